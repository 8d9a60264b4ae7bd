"""Builders the workspaces tests share: API key headers and tokens, sign-in and an
authenticator app through allauth's pages, and a second process that authenticates keys."""

import base64
import os
import queue
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY, format_hotp_value, hotp_value
from django.conf import settings
from django.urls import reverse

from tests.databases import database_env
from tests.factories import TEST_PASSWORD
from workspaces import keys

ROOT = Path(__file__).resolve().parents[2]


# --- API keys ------------------------------------------------------------------------------------


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def basic(user: str, password: str = "") -> dict:
    credentials = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {credentials}"}


def wrong_secret(token: str) -> str:
    """``token`` with its secret changed in the first character: the prefix still names the key."""
    parsed = keys.parse_token(token)
    secret = "a" if parsed.secret[0] != "a" else "b"
    return keys.format_token(parsed.environment, parsed.prefix, secret + parsed.secret[1:])


def unknown_token() -> str:
    """A well-formed token whose prefix names no key."""
    return keys.format_token("live", keys.new_prefix(), keys.new_secret())


def hashes_checked_by(monkeypatch, owner, name: str) -> list:
    """Wrap ``owner.<name>`` (called as ``(secret, hash)``) to record each call's hash, and
    call through: how many bcrypt checks ran, and against which hashes."""
    calls: list = []
    real = getattr(owner, name)

    def recording(secret, hashed):
        calls.append(hashed)
        return real(secret, hashed)

    monkeypatch.setattr(owner, name, recording)
    return calls


# --- Sign-in and MFA -----------------------------------------------------------------------------


def totp_now(secret: str) -> str:
    """The authenticator app's code for ``secret`` at this moment."""
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def sign_in(client, email, password=TEST_PASSWORD, **options):
    """Post the sign-in form (``options``: headers and the like for the test client)."""
    return client.post(reverse("account_login"), {"login": email, "password": password}, **options)


def activate_totp(client, user) -> str:
    """Sign ``user`` in and activate an authenticator app through allauth's pages; the secret."""
    sign_in(client, user.email)
    client.post(reverse("account_reauthenticate"), {"password": TEST_PASSWORD})
    client.get(reverse("mfa_activate_totp"))
    secret = client.session[SECRET_SESSION_KEY]
    response = client.post(reverse("mfa_activate_totp"), {"code": totp_now(secret)})
    assert response.status_code == 302
    return secret


# --- A second process ----------------------------------------------------------------------------

AUTHENTICATOR = textwrap.dedent(
    """
    import sys

    import django

    django.setup()

    from workspaces.auth.api_keys import api_key_authenticate
    from workspaces.exceptions import ApiKeyError

    print("ready", flush=True)
    for line in sys.stdin:
        try:
            key = api_key_authenticate(line.strip())
        except ApiKeyError as error:
            print("refused", error.code, flush=True)
        else:
            print("ok", key.public_id, flush=True)
    """
)


class Authenticator:
    """A second Python process that authenticates the tokens written to it, one a line
    (``script``: another program of the same line protocol, printing "ready" first)."""

    def __init__(self, script: str = AUTHENTICATOR):
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            **database_env(),
            "TEST_REDIS_URL": settings.CACHES["default"]["LOCATION"],
            "PYTHONPATH": str(ROOT),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        assert self._next_line(timeout=30) == "ready"

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.strip())
        self.lines.put("exited")

    def _next_line(self, timeout: float) -> str:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("the second process did not answer") from None

    def ask(self, line: str) -> str:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        return self._next_line(timeout=10)

    def authenticate(self, token: str) -> str:
        return self.ask(token)

    def close(self) -> None:
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
