"""A real Celery worker (with its embedded beat) for delivery tests: a subprocess using the
test databases and the test run's own broker database, consuming the default queue and every
region's (or only the ``queues`` given: a region's own worker pool).

Tests that use it must be ``django_db(transaction=True)``: the worker is another process and
only sees committed rows.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import redis
from django.conf import settings

from tests.databases import database_env

ROOT = Path(__file__).resolve().parents[2]


class Worker:
    def __init__(
        self, *, concurrency: int, beat: bool, env: dict, schedule_dir: Path, queues: list[str]
    ):
        self.concurrency = concurrency
        self.queues = queues
        self.beat = beat
        self.env = env
        self.schedule_dir = schedule_dir
        self.process: subprocess.Popen | None = None
        self.output: list[str] = []

    def start(self, timeout: float = 30.0) -> None:
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tracklayer",
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            str(self.concurrency),
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--hostname",
            f"test-{os.getpid()}-{time.monotonic_ns()}@localhost",
            "--queues",
            ",".join(self.queues),
        ]
        if self.beat:
            command += ["--beat", "--schedule", str(self.schedule_dir / "beat")]
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        ready = threading.Event()

        def read(stream=self.process.stdout):
            for line in stream:
                self.output.append(line)
                if " ready." in line:
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(timeout):
            self.stop()
            raise RuntimeError("the Celery worker did not start:\n" + "".join(self.output[-40:]))

    def kill(self) -> None:
        """SIGKILL, as an out-of-memory killer or a lost machine would."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    @property
    def log(self) -> str:
        return "".join(self.output)


@contextmanager
def celery_worker(
    tmp_path,
    *,
    concurrency: int = 8,
    beat: bool = True,
    sweep_seconds: int = 1,
    http_timeout: float = 2.0,
    kick: bool = True,
    queues: list[str] | None = None,
):
    """Start a worker (and beat) for the test databases; stop it afterwards. It consumes
    ``queues``: by default the control plane's and every region's, as ``make run``'s."""
    if queues is None:
        queues = [settings.CELERY_TASK_DEFAULT_QUEUE, *settings.CELERY_REGION_QUEUES.values()]
    broker = settings.CELERY_BROKER_URL
    redis.Redis.from_url(broker).flushdb()  # nothing left over from earlier tests
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        **database_env(),
        "TEST_REDIS_URL": settings.CACHES["default"]["LOCATION"],
        "TEST_CELERY_BROKER_URL": broker,
        "DELIVERY_SWEEP_SECONDS": str(sweep_seconds),
        "DELIVERY_HTTP_TIMEOUT": str(http_timeout),
        "DELIVERY_KICK": "1" if kick else "0",
        "PYTHONUNBUFFERED": "1",
    }
    worker = Worker(
        concurrency=concurrency, beat=beat, env=env, schedule_dir=tmp_path, queues=queues
    )
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


def wait_for(condition, *, timeout: float = 30.0, interval: float = 0.2, message: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s: {message}")
