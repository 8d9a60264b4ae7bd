"""``make serve``: the production server starts from the environment and answers.

The command ``make serve`` runs (``python -m tracklayer.serving``, gunicorn) is started in a
fresh process, in production mode with only the production variables, on a free port, against
the test databases: ``/healthz`` answers 200, ``/v1/track`` without a key 401 with the API's
error envelope, an event with a key 200 and it is stored. A body over the cap is refused with
413 before it has all arrived (the server streams it to Django, it does not buffer it),
malformed HTTP gets a 4xx, never a 5xx. SIGTERM lets the requests in flight finish — a client's
that went away included — so every group-commit writer has committed what it held before the
worker exits. A missing variable stops it before anything starts, naming the variable.
(docs/adr/0027: granian was measured against this server and not taken; these tests are what
any replacement must pass.)
"""

import base64
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path

import orjson
import psycopg
import pytest
from django.conf import settings

from destinations.models import Event
from tracklayer.serving import environment

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _url(database: dict) -> str:
    return (
        f"postgres://{database['USER']}:{database['PASSWORD']}@{database['HOST']}:"
        f"{database['PORT']}/{database['NAME']}"
    )


def _production_environment(tmp_path, port: int) -> dict[str, str]:
    # As an operator's shell would be: nothing of the test run's Django or TrackLayer settings.
    inherited = {
        name: value
        for name, value in os.environ.items()
        if name in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    }
    return {
        **inherited,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "SECRET_KEY": secrets.token_urlsafe(50),
        "TRACKLAYER_KEYRING": "k1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": _url(settings.DATABASES["default"]),
        "REGION_DATABASES": ",".join(
            f"{alias.removeprefix('region_')}={_url(entry)}"
            for alias, entry in settings.DATABASES.items()
            if alias.startswith("region_")
        ),
        "REDIS_URL": settings.CACHES["default"]["LOCATION"],
        "STATIC_ROOT": str(tmp_path / "static"),
        "WEB_CONCURRENCY": "1",
        "WEB_THREADS": "2",
    }


def _get(
    url: str, *, headers: dict | None = None, timeout: float = 30, **kwargs
) -> tuple[int, Message, bytes]:
    headers = {"X-Forwarded-Proto": "https", **(headers or {})}
    request = urllib.request.Request(url, headers=headers, **kwargs)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


class Served:
    """``python -m tracklayer.serving`` running: its base URL, port and process."""

    def __init__(self, tmp_path):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / "serve.log"
        self.signalled = False
        with self.log.open("wb") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tracklayer.serving", "--no-collectstatic"],
                cwd=ROOT,
                env=_production_environment(tmp_path, self.port),
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_until_warm()
        except BaseException:
            self.kill()  # no fixture stops a server whose start failed
            raise

    def _wait_until_warm(self) -> None:
        deadline = time.monotonic() + 60
        while True:
            assert self.process.poll() is None, f"the server exited:\n{self.log.read_text()}"
            assert time.monotonic() < deadline, f"no answer in 60 s:\n{self.log.read_text()}"
            try:
                _get(f"{self.url}/healthz", timeout=5)
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        # The first API request loads the URL conf and the ingestion views (seconds on a busy
        # machine): done here, so that a test's timing starts with a warm server.
        _get(f"{self.url}/v1/track", data=b"{}", method="POST")

    def sigterm(self) -> None:
        """SIGTERM to the server's processes, once (a second one is not a graceful stop)."""
        if not self.signalled and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        self.signalled = True

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM (unless sent already), and the server's exit status."""
        self.sigterm()
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            raise

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@pytest.fixture
def served(transactional_db, tmp_path):
    """``python -m tracklayer.serving`` on a free port against the test databases (what the
    test writes is committed, so the server sees it), stopped after the test."""
    server = Served(tmp_path)
    try:
        yield server
    finally:
        try:
            server.terminate()
        finally:
            server.kill()


@pytest.fixture
def token(workspace, make_api_key):
    return make_api_key(workspace)[1]


def _event(message_id: str) -> bytes:
    return orjson.dumps(
        {"type": "track", "event": "Order Completed", "anonymousId": "a-1", "messageId": message_id}
    )


def _post_event(url: str, token: str, message_id: str) -> tuple[int, Message, bytes]:
    return _get(
        f"{url}/v1/track",
        data=_event(message_id),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )


def _raw(port: int, request: bytes, *, timeout: float = 10) -> bytes:
    """``request`` as bytes on a fresh connection; what the server answers before it closes
    the connection or ``timeout`` passes (b"" if it closed without an answer)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.sendall(request)
        answer = b""
        try:
            while chunk := connection.recv(65536):
                answer += chunk
                if b"\r\n\r\n" in answer:
                    break
        except ConnectionResetError:
            pass
        return answer


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.") else 0


class HeldCommits:
    """Holds every commit of events in the US region: an EXCLUSIVE lock on the message-id
    table (readers pass, the group-commit writer's insert waits) until ``release()``."""

    def __init__(self):
        self.connection = psycopg.connect(_url(settings.DATABASES["region_us"]))
        self.connection.execute("LOCK TABLE destinations_eventmessageid IN EXCLUSIVE MODE")

    def waiting(self) -> bool:
        """A server's connection waits for the lock."""
        # Inside a transaction pg_stat_activity is read once and kept, unless cleared.
        self.connection.execute("SELECT pg_stat_clear_snapshot()")
        row = self.connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
        return row[0] > 0

    def wait_until_waiting(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while not self.waiting():
            assert time.monotonic() < deadline, "no commit reached the held lock"
            time.sleep(0.05)

    def release(self) -> None:
        self.connection.rollback()
        self.connection.close()


def _stored(workspace, message_id: str) -> bool:
    return Event.objects.in_region("us").filter(workspace=workspace, message_id=message_id).exists()


def test_make_serve_runs_the_serving_module():
    makefile = (ROOT / "Makefile").read_text()
    assert "\t@$(BIN)/python -m tracklayer.serving $(SERVE_ARGS)\n" in makefile


def test_serves_healthz_and_the_api_in_production(served, workspace, token):
    status, headers, body = _get(f"{served.url}/healthz")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    assert headers["Server"] == "gunicorn"
    assert "Strict-Transport-Security" in headers  # the production settings

    status, headers, body = _get(f"{served.url}/v1/track", data=b"{}", method="POST")
    assert status == 401
    assert json.loads(body)["error"]["code"] == "api_key_missing"
    assert headers["Content-Type"] == "application/json"

    status, _, body = _post_event(served.url, token, "m-served")
    assert status == 200, body
    assert _stored(workspace, "m-served")


def test_a_body_over_the_cap_is_refused_before_it_has_arrived(served, token):
    """The server hands the body to Django as it comes, it does not buffer it first (a server
    that did would answer nothing here): the cap (INGEST_MAX_REQUEST_BYTES, 4 MiB) answers 413
    while most of a declared GiB is still unsent. A chunked body (no Content-Length) is one
    Django's WSGI request reads as empty, under any server: 400, as soon as the headers are
    in, however much follows."""
    head = (
        f"POST /v1/track HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-Proto: https\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
    ).encode()
    declared = _raw(
        served.port, head + f"Content-Length: {1 << 30}\r\n\r\n".encode() + b"x" * 65536
    )
    assert _status(declared) == 413, declared
    chunk = b"x" * 65536
    chunked = (
        head + b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n%s\r\n" % (len(chunk), chunk) * 80
    )
    answer = _raw(served.port, chunked)  # 5 MiB sent, the last chunk never
    assert _status(answer) == 400, answer


@pytest.mark.parametrize(
    "request_bytes",
    [
        pytest.param(b"GARBAGE\r\n\r\n", id="no request line"),
        pytest.param(
            b"POST /v1/track HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n", id="header without colon"
        ),
        pytest.param(
            b"POST /v1/track HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ten\r\n\r\n",
            id="Content-Length not a number",
        ),
        pytest.param(
            b"POST /v1/track HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-Proto: https\r\n"
            b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            id="length and chunked (smuggling)",
        ),
        pytest.param(
            b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 500_000 + b"\r\n\r\n",
            id="headers over the buffer",
        ),
    ],
)
def test_malformed_http_gets_a_4xx_never_a_5xx(served, request_bytes):
    answer = _raw(served.port, request_bytes)
    assert answer == b"" or 400 <= _status(answer) < 500, answer[:200]
    status, _, _ = _get(f"{served.url}/healthz")  # and the server still answers
    assert status == 200


def test_sigterm_lets_a_request_in_flight_finish(served, workspace, token):
    """SIGTERM while a request waits for its commit: the server waits for it, the client gets
    its 200 and the event is stored, then the server exits 0."""
    held = HeldCommits()
    answers = []
    sender = threading.Thread(
        target=lambda: answers.append(_post_event(served.url, token, "m-in-flight"))
    )
    try:
        sender.start()
        held.wait_until_waiting()
        served.sigterm()
        time.sleep(1)
        assert served.process.poll() is None  # still waiting for the request
    finally:
        held.release()
    sender.join(timeout=15)
    assert answers and answers[0][0] == 200, answers
    assert served.terminate() == 0
    assert _stored(workspace, "m-in-flight")


def test_sigterm_flushes_the_writers_of_a_client_that_went_away(served, workspace, token):
    """A client that gave up while its events waited for a commit: the server still waits for
    its request at SIGTERM (gunicorn's gthread worker, up to graceful_timeout), so the writer
    commits them before the worker exits. granian does not (it waits for connections, not
    requests): there the event was lost unless the worker stopped every writer at its exit
    (docs/adr/0027)."""
    held = HeldCommits()
    try:
        request = (
            f"POST /v1/track HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-Proto: https\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        ).encode()
        body = _event("m-left")
        client = socket.create_connection(("127.0.0.1", served.port))
        client.sendall(request + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        held.wait_until_waiting()
        client.close()  # the client goes away
        time.sleep(0.5)
        served.sigterm()
        time.sleep(1)  # the server has its SIGTERM; the writer still waits for the lock
        assert served.process.poll() is None  # still waiting for the request
    finally:
        held.release()
    assert served.terminate() == 0
    assert _stored(workspace, "m-left")


def test_a_server_that_fails_to_start_is_stopped(tmp_path, monkeypatch):
    """A start that fails (no answer in time, the warm-up request refused) stops the server it
    started: left running, it would hold the test databases' connections (their DROP at the
    end of the run fails) and a port, in a session of its own that nothing else ends."""
    started = []
    popen = subprocess.Popen

    def recorded(*args, **kwargs):
        started.append(popen(*args, **kwargs))
        return started[-1]

    def refused(url, **kwargs):
        raise RuntimeError("no answer")

    monkeypatch.setattr(subprocess, "Popen", recorded)
    monkeypatch.setattr(sys.modules[__name__], "_get", refused)
    try:
        with pytest.raises(RuntimeError, match="no answer"):
            Served(tmp_path)
        assert started[0].returncode is not None
    finally:
        if started and started[0].poll() is None:
            os.killpg(started[0].pid, signal.SIGKILL)
            started[0].wait()


def test_a_missing_variable_stops_the_server_and_is_named(tmp_path):
    env = _production_environment(tmp_path, _free_port())
    del env["TRACKLAYER_KEYRING"], env["REDIS_URL"]
    result = subprocess.run(
        [sys.executable, "-m", "tracklayer.serving", "--no-collectstatic"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "TRACKLAYER_KEYRING is not set" in result.stderr
    assert "REDIS_URL is not set" in result.stderr
    assert "SECRET_KEY" not in result.stderr
    assert "Listening at" not in result.stderr


def test_gunicorn_itself_refuses_to_start_without_the_variables():
    """Run straight from the config (``gunicorn -c python:tracklayer.serving.gunicorn``)."""
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "python:tracklayer.serving.gunicorn"],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"TRACKLAYER_ENV": "development"}, "TRACKLAYER_ENV is 'development'"),
        ({"PORT": "http"}, "PORT must be a TCP port number, not 'http'"),
        ({"PORT": "70000"}, "PORT must be a TCP port number"),
        ({"ALLOWED_HOSTS": " "}, "ALLOWED_HOSTS is not set"),
        ({"WEB_CONCURRENCY": "0"}, "WEB_CONCURRENCY must be a whole number of at least 1"),
        ({"WEB_THREADS": "eight"}, "WEB_THREADS must be a whole number of at least 1, not 'eight'"),
    ],
)
def test_the_check_names_each_problem(changes, problem):
    complete = {name: "x" for name in environment.REQUIRED}
    with pytest.raises(SystemExit, match=problem):
        environment.check({**complete, **changes})
    environment.check(complete)


@pytest.mark.parametrize(
    ("host", "port", "bind"),
    [
        (None, None, "0.0.0.0:8000"),
        ("127.0.0.1", "9000", "127.0.0.1:9000"),
        ("::1", "80", "[::1]:80"),
    ],
)
def test_bind_from_host_and_port(host, port, bind):
    given = {name: value for name, value in (("HOST", host), ("PORT", port)) if value}
    assert environment.bind(given) == bind
