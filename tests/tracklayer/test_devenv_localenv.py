"""``var/dev.env``: what ``make run`` writes so the CLI works in a fresh shell, and the rules
under which the settings read it (``tracklayer/localenv.py``) — only for development, never
over the environment, never a file someone else could have written.
"""

import base64
import logging
import stat

import pytest
from django.core.exceptions import ImproperlyConfigured
from dotenv import dotenv_values

from tracklayer import devenv, keyring, localenv
from tracklayer.log_filters import QuietTasks


def write(path, text: str, mode: int = 0o600):
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.fixture
def dev_env(tmp_path):
    return write(tmp_path / "dev.env", "TRACKLAYER_ENV=development\nSECRET_KEY=from-the-file\n")


def test_the_file_fills_in_what_the_environment_lacks(dev_env):
    environ = {"PATH": "/usr/bin"}

    assert localenv.load(dev_env, environ) == ["TRACKLAYER_ENV", "SECRET_KEY"]
    assert environ == {
        "PATH": "/usr/bin",
        "TRACKLAYER_ENV": "development",
        "SECRET_KEY": "from-the-file",
    }


@pytest.mark.parametrize("value", ["from-the-environment", ""])
def test_a_variable_the_environment_sets_is_never_overridden(dev_env, value):
    # Set to empty counts as set: the operator said something.
    environ = {"SECRET_KEY": value, "TRACKLAYER_ENV": "development"}

    assert localenv.load(dev_env, environ) == []
    assert environ == {"SECRET_KEY": value, "TRACKLAYER_ENV": "development"}


@pytest.mark.parametrize("environment", ["production", "test"])
def test_the_file_is_ignored_unless_the_environment_is_development(dev_env, environment):
    environ = {"TRACKLAYER_ENV": environment}

    assert localenv.load(dev_env, environ) == []
    assert environ == {"TRACKLAYER_ENV": environment}


def test_no_file_no_change(tmp_path):
    environ = {}

    assert localenv.load(tmp_path / "dev.env", environ) == []
    assert environ == {}


@pytest.mark.parametrize("mode", [0o620, 0o602, 0o666])
def test_a_file_others_may_write_is_refused(tmp_path, mode):
    path = write(tmp_path / "dev.env", "SECRET_KEY=planted\n", mode)
    environ = {}

    with pytest.raises(ImproperlyConfigured, match="writable by you only"):
        localenv.load(path, environ)
    assert environ == {}


def test_the_file_cannot_choose_production(tmp_path):
    path = write(tmp_path / "dev.env", "TRACKLAYER_ENV=production\n")

    with pytest.raises(ImproperlyConfigured, match="development only"):
        localenv.load(path, {})


def test_values_are_taken_literally(tmp_path):
    path = write(tmp_path / "dev.env", "SECRET_KEY=a${HOME}b$c\n")
    environ = {"HOME": "/root"}

    localenv.load(path, environ)

    assert environ["SECRET_KEY"] == "a${HOME}b$c"


def test_make_run_writes_the_file_once_readable_only_by_its_owner(tmp_path, monkeypatch):
    monkeypatch.delenv(
        "TRACKLAYER_ENV", raising=False
    )  # as `make run` in a shell that sets nothing
    path = tmp_path / "var" / "dev.env"

    devenv.ensure_dev_env(path)
    first = path.read_text()
    devenv.ensure_dev_env(path)

    assert path.read_text() == first  # its keys seal the database's secrets: never replaced
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    values = dotenv_values(path)
    assert values["TRACKLAYER_ENV"] == "development"
    assert len(values["SECRET_KEY"]) >= 50
    assert values["SECRET_KEY"] != localenv.INSECURE_SECRET_KEY
    ring = keyring.parse_keyring(values["TRACKLAYER_KEYRING"])
    assert ring.current_id == "local"
    # Secrets sealed before the file existed (key derived from the built-in SECRET_KEY) open.
    assert ring.key("dev") == keyring.development_key(localenv.INSECURE_SECRET_KEY)
    environ = {}
    localenv.load(path, environ)
    assert environ["SECRET_KEY"] == values["SECRET_KEY"]


def test_make_run_writes_no_file_for_another_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACKLAYER_ENV", "production")
    path = tmp_path / "dev.env"

    devenv.ensure_dev_env(path)

    assert not path.exists()


def test_two_checkouts_get_different_keys(tmp_path, monkeypatch):
    monkeypatch.delenv("TRACKLAYER_ENV", raising=False)
    one, two = tmp_path / "one.env", tmp_path / "two.env"
    devenv.ensure_dev_env(one)
    devenv.ensure_dev_env(two)

    first, second = dotenv_values(one), dotenv_values(two)
    assert first["SECRET_KEY"] != second["SECRET_KEY"]
    local = [
        base64.b64decode(values["TRACKLAYER_KEYRING"].split(",")[0].split(":")[1])
        for values in (first, second)
    ]
    assert local[0] != local[1]


# --- The sweep's lines in the console --------------------------------------------------------

SWEEP = "destinations.tasks.deliveries_sweep"


def record(level: int, message: str, *args) -> logging.LogRecord:
    return logging.LogRecord("celery.app.trace", level, __file__, 1, message, args, None)


def test_routine_lines_about_the_sweep_are_dropped_others_kept():
    quiet = QuietTasks([SWEEP])

    assert not quiet.filter(record(logging.INFO, "Task %(name)s[1] received", {"name": SWEEP}))
    assert not quiet.filter(
        record(logging.INFO, "Scheduler: Sending due task %s (%s)", "deliveries-sweep", SWEEP)
    )
    assert quiet.filter(
        record(logging.INFO, "Task %(name)s[2] received", {"name": "destinations.tasks.x"})
    )
    assert quiet.filter(record(logging.WARNING, "Task %s[3] retry", SWEEP))
    assert quiet.filter(record(logging.ERROR, "Task %s[4] raised unexpected: boom", SWEEP))
