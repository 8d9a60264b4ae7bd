"""The README's commands as a newcomer types them: in a fresh shell after ``make run``, with
nothing exported. ``make run`` leaves ``var/dev.env``; the ``tracklayer`` command and
``manage.py`` then run in development, while a shell that says ``production`` still gets
production (and its refusal without a SECRET_KEY).
"""

import json
import os
import secrets
import shlex
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from dotenv import dotenv_values

from audit import offline
from audit import services as audit_services
from audit.models import AuditEntry
from destinations.models import Destination
from destinations.routing.services import destination_update
from tracklayer import devenv
from workspaces import services as workspace_services
from workspaces.actors import SystemActor

ROOT = Path(__file__).resolve().parents[2]
TRACKLAYER = Path(sys.executable).parent / "tracklayer"
SHOW_SETTINGS = (
    "import json; from django.conf import settings as s; "
    "print(json.dumps([s.TRACKLAYER_ENV, s.DEBUG, s.SECRET_KEY]))"
)


@pytest.fixture(scope="module")
def dev_env():
    """The checkout's own var/dev.env: the one `make run` wrote, or one written here as
    `make run` would (and removed again, so the checkout is left as it was found)."""
    path = devenv.DEV_ENV
    created = not path.exists()
    if created:
        saved = os.environ.pop("TRACKLAYER_ENV", None)
        try:
            devenv.ensure_dev_env(path)
        finally:
            if saved is not None:
                os.environ["TRACKLAYER_ENV"] = saved
    yield dotenv_values(path)
    if created:
        path.unlink()


def fresh_shell(*command: str, **env: str) -> subprocess.CompletedProcess:
    # What `env -i HOME=$HOME PATH=/usr/bin:/bin bash -lc '…'` gives a command.
    return subprocess.run(
        command,
        cwd=ROOT,
        env={"HOME": os.environ.get("HOME", "/"), "PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    "command",
    [(str(TRACKLAYER),), (sys.executable, "manage.py")],
    ids=["tracklayer", "manage.py"],
)
def test_commands_run_in_development_in_a_fresh_shell(dev_env, command):
    result = fresh_shell(*command, "shell", "-c", SHOW_SETTINGS)

    assert result.returncode == 0, result.stderr
    environment, debug, secret_key = json.loads(result.stdout.strip().splitlines()[-1])
    assert (environment, debug) == ("development", True)
    assert secret_key == dev_env["SECRET_KEY"]


def test_the_environment_wins_over_the_file(dev_env):
    mine = secrets.token_urlsafe(50)

    result = fresh_shell(str(TRACKLAYER), "shell", "-c", SHOW_SETTINGS, SECRET_KEY=mine)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])[2] == mine


def test_a_shell_that_says_production_gets_production(dev_env):
    result = fresh_shell(str(TRACKLAYER), "shell", "-c", SHOW_SETTINGS, TRACKLAYER_ENV="production")

    assert result.returncode != 0
    assert "SECRET_KEY must be set in production" in result.stderr


def test_development_keeps_the_delivery_sweep_out_of_the_console(dev_env):
    result = fresh_shell(
        str(TRACKLAYER),
        "shell",
        "-c",
        "import logging; print([type(f).__name__ for f in "
        "logging.getLogger('celery.app.trace').filters])",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "['QuietTasks']"


# --- tracklayer audit-db-role --print-sql ------------------------------------------------------


@pytest.mark.django_db
def test_print_sql_needs_no_password(monkeypatch):
    monkeypatch.delenv("APP_DB_PASSWORD", raising=False)
    role = f"tl_print_{secrets.token_hex(4)}"
    out = StringIO()

    call_command(
        "audit_db_role",
        "--role",
        role,
        "--password-env",
        "APP_DB_PASSWORD",
        "--print-sql",
        stdout=out,
    )

    printed = out.getvalue()
    assert f'CREATE ROLE "{role}" LOGIN NOSUPERUSER' in printed
    assert "PASSWORD" not in printed.split("BEGIN;")[1]
    assert (
        f"$APP_DB_PASSWORD is empty or unset, so no password here: set one with \\password {role}"
        in printed
    )
    # Creating the role for real still wants the password.
    with pytest.raises(CommandError, match="APP_DB_PASSWORD is empty or unset"):
        call_command("audit_db_role", "--role", role, "--password-env", "APP_DB_PASSWORD")


# --- tracklayer audit export: the verify-export command it prints ----------------------------


@pytest.mark.django_db
def test_the_printed_verify_command_verifies_the_export_after_a_rotation(workspace, tmp_path):
    actor = SystemActor("tests")
    workspace_services.workspace_update(workspace=workspace, actor=actor, name="Acme 1")
    audit_services.audit_checkpoint_sign(workspace=workspace, actor=actor)
    audit_services.audit_signing_key_rotate(workspace=workspace, actor=actor)
    workspace_services.workspace_update(workspace=workspace, actor=actor, name="Acme 2")
    audit_services.audit_checkpoint_sign(workspace=workspace, actor=actor)
    out = StringIO()

    call_command(
        "audit",
        "export",
        "--workspace",
        workspace.slug,
        "--out",
        str(tmp_path / "a b.json.gz"),
        stdout=out,
    )

    printed = out.getvalue().strip().splitlines()[-1]
    program, audit, verb, *args = shlex.split(printed)
    assert (program, audit, verb) == ("tracklayer", "audit", "verify-export")
    assert args.count("--vkey") == 2  # the checkpoint before the rotation needs the old key
    assert offline.main(args) == 0


# --- make run on other ports: the demo destinations follow the local platforms ---------------


def demo_urls() -> dict[str, str]:
    return {
        row.name: row.config.get("api_base_url") or row.config["url"]
        for row in Destination.objects.filter(workspace__slug="acme")
    }


@pytest.mark.django_db
def test_demo_destinations_follow_the_local_platforms_to_another_port(monkeypatch):
    monkeypatch.delenv("LOCAL_PLATFORMS_URL", raising=False)
    call_command("seed_demo", "--json", stdout=StringIO())
    webhook = Destination.objects.get(workspace__slug="acme", type="webhook")
    destination_update(
        workspace=webhook.workspace,
        actor=SystemActor("tests"),
        destination=webhook,
        values={"config": {"url": "https://hooks.example.com/warehouse"}},
    )
    entries = AuditEntry.objects.count()

    monkeypatch.setenv("LOCAL_PLATFORMS_URL", "http://127.0.0.1:9101")
    call_command("seed_demo", "--json", stdout=StringIO())

    assert demo_urls() == {
        "Meta (local)": "http://127.0.0.1:9101/meta",
        "TikTok (local, bad token)": "http://127.0.0.1:9101/tiktok",
        "GA4 (local)": "http://127.0.0.1:9101/ga4",
        "Warehouse webhook (local)": "https://hooks.example.com/warehouse",  # set by hand: kept
    }
    # each move audited: acme's three, and all four of acme-us's (none was set by hand there)
    assert AuditEntry.objects.count() == entries + 3 + 4
    call_command("seed_demo", "--json", stdout=StringIO())
    assert AuditEntry.objects.count() == entries + 3 + 4  # and only once


def test_a_reader_that_goes_away_ends_the_command_quietly(dev_env):
    # `tracklayer audit verify | head -2`: more output than the pipe holds, and the reader gone
    command = f"{TRACKLAYER} shell -v 0 -c \"print('entry' * 200_000)\" | head -c 5"

    result = fresh_shell("bash", "-o", "pipefail", "-c", command)

    assert result.stdout == "entry"
    assert "Traceback" not in result.stderr and "BrokenPipeError" not in result.stderr
    assert result.returncode == 141  # 128 + SIGPIPE, what `set -o pipefail` reports for cat
