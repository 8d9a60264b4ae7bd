"""gunicorn's configuration for TrackLayer in production (``make serve``).

``gunicorn -c python:tracklayer.serving.gunicorn`` serves ``tracklayer.wsgi:application``; the
environment is checked first (``tracklayer/serving/environment.py``). Chosen by measurement
(``python -m tests.bench ingestion --sweep``, docs/benchmarks.md): on two cores, 3 gthread
workers × 8 threads served the most single events per second at the lowest CPU per request
and p99. Threads matter because ingestion's group commit is per process (docs/adr/0008): the
threads of one worker share each commit, where a sync worker commits every request alone. More
processes than cores + 1 only add switching; one process leaves a core idle (the GIL).
``WEB_CONCURRENCY`` (workers) and ``WEB_THREADS`` override the choice on other machines.
"""

import os

from tracklayer.serving import environment

environment.check()
os.environ.setdefault("TRACKLAYER_ENV", "production")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tracklayer.settings")

wsgi_app = "tracklayer.wsgi:application"
bind = [environment.bind()]
worker_class = "gthread"
# The cores this process may run on (its CPU affinity, which a container's cpuset narrows).
workers = int(os.environ.get("WEB_CONCURRENCY") or len(os.sched_getaffinity(0)) + 1)
threads = int(os.environ.get("WEB_THREADS") or 8)
# Connections waiting to be accepted under a burst (Linux caps it at net.core.somaxconn).
backlog = 2048
# Longer than a load balancer's idle timeout (60 s on most), so that the balancer, not
# gunicorn, closes an idle connection: no request is sent on a socket being closed.
keepalive = 75
# A request stuck this long (a lost database) has its worker restarted; in-flight requests
# get graceful_timeout to finish on a restart or a SIGTERM (every group-commit writer flushes).
timeout = 60
graceful_timeout = 30
# The workers' heartbeat files on tmpfs, as gunicorn's deployment docs advise.
worker_tmp_dir = "/dev/shm"  # noqa: S108
accesslog = None  # the load balancer logs requests; errors go to stderr
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
control_socket_disable = True
