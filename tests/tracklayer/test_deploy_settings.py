"""Production is the safe default: the settings module, loaded in a fresh process as an operator
would load it, passes Django's deployment checks and turns the protections on."""

import base64
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "TRACKLAYER_ENV": "production",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "tracklayer.example.com",
    "TRACKLAYER_KEYRING": "k1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
    "DJANGO_SETTINGS_MODULE": "tracklayer.settings",
    # Every region's data plane has its own database in production (tracklayer/regions.py).
    "REGION_DATABASES": (
        "us=postgres://tracklayer@db-us.example.com/tracklayer,"
        "eu=postgres://tracklayer@db-eu.example.com/tracklayer"
    ),
}


def run_in_fresh_process(code: str, **env) -> subprocess.CompletedProcess:
    # As an operator's shell would be: none of the test run's Django or TrackLayer variables.
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "TRACKLAYER_", "SECURE_", "SESSION_", "CSRF_"))
        and k not in ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS")
    }
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**inherited, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_deploy_is_clean_with_production_variables():
    result = run_in_fresh_process(
        "from django.core.management import execute_from_command_line as run; "
        "run(['manage.py', 'check', '--deploy', '--fail-level', 'WARNING'])",
        **PRODUCTION,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_turn_the_protections_on():
    result = run_in_fresh_process(
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({k: getattr(s, k) for k in ['DEBUG', 'SESSION_COOKIE_SECURE', "
        "'CSRF_COOKIE_SECURE', 'SECURE_SSL_REDIRECT', 'SECURE_HSTS_SECONDS']}))",
        **PRODUCTION,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "DEBUG": False,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31536000,
    }


def test_production_refuses_to_start_without_a_secret_key():
    result = run_in_fresh_process(
        "import django; django.setup()", **{**PRODUCTION, "SECRET_KEY": ""}
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set in production" in result.stderr


@pytest.mark.django_db
def test_pages_carry_a_strict_content_security_policy(client):
    policy = client.get("/accounts/login/")["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval'
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
