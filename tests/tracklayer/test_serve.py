"""``make serve``: the production server starts from the environment and answers.

The command ``make serve`` runs (``python -m tracklayer.serving``) is started in a fresh
process, in production mode with only the production variables, on a free port: ``/healthz``
answers 200, ``/v1/track`` without a key 401 with the API's error envelope. A missing variable
stops it before anything starts, naming the variable.
"""

import base64
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

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


def _get(url: str, **kwargs) -> tuple[int, dict, bytes]:
    headers = {"X-Forwarded-Proto": "https"}
    request = urllib.request.Request(url, headers=headers, **kwargs)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture
def served(tmp_path):
    """``python -m tracklayer.serving`` on a free port; its base URL once /healthz answers."""
    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "tracklayer.serving", "--no-collectstatic"],
            cwd=ROOT,
            env=_production_environment(tmp_path, port),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"the server exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"no answer in 60 s:\n{log.read_text()}"
            try:
                _get(f"{url}/healthz")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_make_serve_runs_the_serving_module():
    makefile = (ROOT / "Makefile").read_text()
    assert "\t@$(BIN)/python -m tracklayer.serving $(SERVE_ARGS)\n" in makefile


def test_serves_healthz_and_the_api_in_production(served):
    status, headers, body = _get(f"{served}/healthz")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    assert headers["Server"] == "gunicorn"
    assert "Strict-Transport-Security" in headers  # the production settings

    status, headers, body = _get(f"{served}/v1/track", data=b"{}", method="POST")
    assert status == 401
    assert json.loads(body)["error"]["code"] == "api_key_missing"
    assert headers["Content-Type"] == "application/json"


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
