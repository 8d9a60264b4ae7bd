"""The web server serving TrackLayer against the bench database, as production runs it.

The server is ``make serve``'s: gunicorn with ``tracklayer/serving/gunicorn.py`` (the
configuration under test given on the command line, which overrides the file), running
``tracklayer.wsgi`` in ``TRACKLAYER_ENV=production`` (DEBUG off, group commit on, production
middleware, security settings and logging), with throwaway secrets and the bench's databases
(the control plane's ``DATABASE_URL`` and each region's, in the ``REGION_DATABASES`` that
tests/bench/environment.py sets, which production requires) and Redis db 13;
``tests/bench/server_settings.py`` only adds a constant endpoint behind the dashboard's
middleware. The reference (``REFERENCE``) is bare Django (tests/bench/bare_django.py), served
the same way. A configuration of ``worker_class="granian"`` serves the same application with
granian's WSGI interface instead (``--sweep``'s A/B, docs/adr/0027).
"""

import base64
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SETTINGS_MODULE = "tests.bench.server_settings"


@dataclass(frozen=True)
class ServerConfig:
    worker_class: str  # gunicorn's -k ("gthread", "sync", "asgi"), or "granian" (its WSGI)
    workers: int
    threads: int = 1  # gthread's threads, or granian's blocking threads per worker
    wsgi: str = "tracklayer.wsgi:application"
    label: str = ""  # what differs besides the workers (another application)
    backpressure: int | None = None  # granian: requests in flight per worker (None: threads)

    def __str__(self) -> str:
        if self.worker_class == "gthread":
            name = f"gthread, {self.workers} workers × {self.threads} threads"
        elif self.worker_class == "granian":
            name = f"granian, {self.workers} workers × {self.threads} blocking threads"
            if self.backpressure is not None:
                name += f", backpressure {self.backpressure}"
        else:
            name = f"{self.worker_class}, {self.workers} workers"
        return f"{name}, {self.label}" if self.label else name

    @property
    def application(self) -> str:
        return "tracklayer.asgi:application" if self.worker_class == "asgi" else self.wsgi

    def arguments(self) -> list[str]:
        if self.worker_class == "granian":
            return granian_arguments(
                workers=self.workers, threads=self.threads, backpressure=self.backpressure
            )
        # --threads always: the config file's threads (> 1) would turn sync workers into gthread.
        return [
            *("--worker-class", self.worker_class, "--workers", str(self.workers)),
            *("--threads", str(self.threads)),
        ]

    def command(self, port: int) -> list[str]:
        """The server's command line, on ``127.0.0.1:port``."""
        if self.worker_class == "granian":
            target = self.application
            factory = target.endswith("()")
            return [
                *(sys.executable, "-m", "granian", "--interface", "wsgi"),
                *("--host", "127.0.0.1", "--port", str(port)),
                *self.arguments(),
                *(["--factory"] if factory else []),
                "--log-level",
                "warning",
                target.removesuffix("()"),
            ]
        return [
            *(sys.executable, "-m", "gunicorn"),
            *("--config", "python:tracklayer.serving.gunicorn"),
            self.application,
            *("--bind", f"127.0.0.1:{port}"),
            *self.arguments(),
            *("--log-level", "warning"),
        ]


def granian_arguments(*, workers: int, threads: int, backpressure: int | None) -> list[str]:
    """granian's options for TrackLayer's WSGI application, as production would set them
    (docs/adr/0027: measured, not taken): HTTP/1 only (the load balancer speaks HTTP/1.1 to
    the backends), no WebSocket, no access log (the balancer logs requests), dead workers
    respawned; ``backpressure`` (requests in flight per worker) defaults to the threads."""
    return [
        *("--workers", str(workers), "--blocking-threads", str(threads)),
        *("--backpressure", str(backpressure or threads)),
        *("--http", "1", "--no-ws", "--no-access-log", "--respawn-failed-workers"),
    ]


# Chosen with ``python -m tests.bench ingestion --sweep`` (and interleaved repeats) on the project
# machine: 2 cores shared with wrk, PostgreSQL, Redis and other people's test runs. 3 gthread
# workers × 8 threads served the most single events per second at the lowest CPU per request and
# p99, with batches level with 2 × 8 and 2 × 16. Sync workers and 4 workers did worst: a sync
# worker commits each request alone (the group-commit writer is per process, so its commits carry
# only what that process's threads queued), and more processes than cores add switching. One
# worker leaves a core idle (the GIL). gunicorn's asgi worker (Django's ASGI handler, whose sync
# views run one at a time per process) served ~110 req/s with hundreds of non-2xx answers.
# tracklayer/serving/gunicorn.py's default on this machine (cores + 1 workers × 8 threads).
CHOSEN = ServerConfig("gthread", workers=3, threads=8)
# The reference of issue 17: bare Django (no middleware, one view reading the body and
# answering a constant) under gunicorn with 4 sync workers.
REFERENCE = ServerConfig("sync", workers=4, wsgi="tests.bench.bare_django:application")
# The chosen configuration without the lean ingestion path: every request through
# settings.MIDDLEWARE, as before ADR 0019 (gunicorn calls the factory for the application).
FULL_STACK = ServerConfig(
    "gthread",
    workers=3,
    threads=8,
    wsgi="django.core.wsgi:get_wsgi_application()",
    label="every request through the full middleware",
)
# The earlier sweep over gunicorn's configurations (``ingestion.sweep(CANDIDATES)``).
CANDIDATES = (
    ServerConfig("sync", workers=4),
    ServerConfig("sync", workers=8),
    ServerConfig("gthread", workers=1, threads=32),
    ServerConfig("gthread", workers=2, threads=4),
    ServerConfig("gthread", workers=2, threads=8),
    ServerConfig("gthread", workers=2, threads=16),
    ServerConfig("gthread", workers=3, threads=8),
    ServerConfig("gthread", workers=4, threads=4),
    ServerConfig("gthread", workers=4, threads=8),
    FULL_STACK,
)

# granian (a Rust HTTP server, its WSGI interface) against gthread: ``--sweep`` runs ``AB`` in
# alternating rounds (``ingestion.sweep``). Measured, not taken (docs/adr/0027): about 30 % less
# CPU per single event with 2 workers × 16 threads, but p99 no better (worse in three runs of
# four), batches slower, and a server that gives up gunicorn's guarantees at SIGTERM, on idle
# keep-alive and on headers with underscores. Fewer processes with more threads share more of
# each group commit (one writer per process); granian parses HTTP outside the GIL.
GRANIAN_CANDIDATES = (
    ServerConfig("granian", workers=1, threads=32),
    ServerConfig("granian", workers=2, threads=16),
    ServerConfig("granian", workers=2, threads=8),
    ServerConfig("granian", workers=3, threads=8),
    ServerConfig("granian", workers=2, threads=16, backpressure=64),
)
AB = (CHOSEN, *GRANIAN_CANDIDATES[:2])
# Bare Django served by granian, beside the gunicorn-sync reference.
GRANIAN_REFERENCE = ServerConfig(
    "granian", workers=2, threads=16, wsgi="tests.bench.bare_django:application"
)

_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/PID/stat (Linux); 0 if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_environment(*, database_url: str, redis_url: str, static_root: str) -> dict[str, str]:
    """What the production settings need, for this run only (tracklayer/settings.py)."""
    keyring = base64.b64encode(secrets.token_bytes(32)).decode()
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
        "TRACKLAYER_ENV": "production",
        "DEBUG": "0",
        "EVENTS_GROUP_COMMIT": "1",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "TRACKLAYER_KEYRING": f"bench:{keyring}",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "STATIC_ROOT": static_root,  # empty: the API serves no static files
        "LOG_LEVEL": "WARNING",
    }


class Server:
    """``with Server(config, …) as server:`` — gunicorn or granian on a free local port,
    stopped (SIGTERM, so requests in flight finish and every writer commits) when the block
    ends."""

    def __init__(self, config: ServerConfig, *, database_url: str, redis_url: str):
        self.config = config
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._directory = tempfile.TemporaryDirectory(prefix="tracklayer-bench-")
        self._log = Path(self._directory.name) / "server.log"
        self._environment = server_environment(
            database_url=database_url,
            redis_url=redis_url,
            static_root=str(Path(self._directory.name) / "static"),
        )
        self._process: subprocess.Popen | None = None
        self.final_log = ""

    def __enter__(self) -> "Server":
        command = self.config.command(self.port)
        with self._log.open("wb") as log:
            self._process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self._environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_until_serving()
        except BaseException:
            self.stop()
            self._directory.cleanup()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
        self.final_log = self.log_tail()
        self._directory.cleanup()

    def _wait_until_serving(self, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the server exited at start:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as answer:  # noqa: S310
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the server did not answer within {seconds:g} s:\n{self.log_tail()}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def worker_pids(self) -> list[int]:
        """The worker processes (gunicorn's arbiter or granian's main process is the one
        started here) and their children, if any."""
        if self._process is None:
            return []
        found, parents = [], [self._process.pid]
        while parents:
            answer = subprocess.run(
                ["pgrep", "-P", ",".join(map(str, parents))],
                capture_output=True,
                text=True,
                check=False,
            )
            parents = [int(pid) for pid in answer.stdout.split()]
            found += parents
        return found

    def cpu_seconds(self) -> float:
        """User and system CPU time of the whole server so far, every thread of the workers
        and of the process that supervises them (from /proc; 0 where unreadable): granian
        parses HTTP in Rust threads, gunicorn in the workers' Python threads; both count."""
        pids = [self._process.pid, *self.worker_pids()] if self._process else []
        return sum(process_cpu_seconds(pid) for pid in pids)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self._log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
