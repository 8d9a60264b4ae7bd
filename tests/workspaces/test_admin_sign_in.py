"""The Django admin has no sign-in of its own: staff sign in through the dashboard's (allauth:
password, authenticator app, rate limits, audit), and in production reach the admin only with
MFA — issue 11, finding 2."""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.contrib.auth import SESSION_KEY
from django.urls import reverse

from audit.models import AuditEntry
from tests.factories import TEST_PASSWORD
from tests.workspaces.helpers import totp_now

pytestmark = pytest.mark.django_db

ADMIN = "/admin/"
ADMIN_LOGIN = "/admin/login/"


def path_and_next(location: str) -> tuple[str, str | None]:
    parts = urlsplit(location)
    return parts.path, parse_qs(parts.query).get("next", [None])[0]


@pytest.fixture
def staff_totp(staff):
    secret = generate_totp_secret()
    TOTP.activate(staff, secret)
    return secret


@pytest.fixture
def mfa_required(settings):
    settings.STAFF_MFA_REQUIRED = True


def signed_in(client) -> bool:
    return SESSION_KEY in client.session


# --- No password-only door -----------------------------------------------------------------------


def test_posting_credentials_to_the_admin_login_signs_nobody_in(client, staff, staff_totp):
    response = client.post(
        ADMIN_LOGIN, {"username": staff.email, "password": TEST_PASSWORD, "next": ADMIN}
    )

    assert response.status_code == 302
    assert path_and_next(response["Location"]) == (reverse("account_login"), ADMIN)
    assert not signed_in(client)
    assert client.get(ADMIN).status_code == 302


def test_the_admin_sends_visitors_to_the_dashboards_sign_in(client):
    response = client.get(reverse("admin:workspaces_apikey_changelist"), follow=True)

    first, *_ = response.redirect_chain
    assert path_and_next(first[0])[0] == ADMIN_LOGIN
    final_url = response.redirect_chain[-1][0]
    assert path_and_next(final_url) == (
        reverse("account_login"),
        reverse("admin:workspaces_apikey_changelist"),
    )


def test_the_admin_login_refuses_to_send_anyone_elsewhere(client):
    response = client.get(ADMIN_LOGIN, {"next": "https://evil.example/phish"})
    assert path_and_next(response["Location"]) == (reverse("account_login"), ADMIN)


def test_the_admin_password_change_is_allauths(client, staff):
    client.force_login(staff)
    response = client.get(reverse("admin:password_change"))
    assert response.status_code == 302
    assert response["Location"] == reverse("account_change_password")


# --- Signing in to the admin ---------------------------------------------------------------------


def test_staff_sign_in_to_the_admin_with_password_and_code_and_it_is_audited(
    client, staff, staff_totp, workspace, mfa_required
):
    # The admin sends them to the sign-in, which asks for the password, then the code
    login = client.get(ADMIN_LOGIN, {"next": ADMIN})["Location"]
    response = client.post(login, {"login": staff.email, "password": TEST_PASSWORD})
    assert response["Location"] == reverse("mfa_authenticate")
    assert not signed_in(client)

    response = client.post(reverse("mfa_authenticate"), {"code": totp_now(staff_totp)})
    assert response["Location"] == ADMIN
    assert client.get(ADMIN).status_code == 200

    [entry] = AuditEntry.objects.filter(workspace=workspace, event_type="auth.sign_in_succeeded")
    assert entry.actor == f"user:{staff.public_id}"
    assert b'"method":"password+mfa"' in bytes(entry.material)


def test_failed_admin_sign_ins_are_rate_limited_and_audited(client, staff, workspace):
    login = client.get(ADMIN_LOGIN)["Location"]
    for _ in range(5):
        client.post(login, {"login": staff.email, "password": "wrong password!"})

    # The sixth try, even with the right password, is refused
    response = client.post(login, {"login": staff.email, "password": TEST_PASSWORD})
    assert response.status_code == 200
    assert b"Too many failed login attempts" in response.content
    assert not signed_in(client)
    failures = AuditEntry.objects.filter(workspace=workspace, event_type="auth.sign_in_failed")
    assert failures.count() == 5


# --- MFA required of staff (production) ----------------------------------------------------------


def test_in_production_staff_without_an_authenticator_get_no_admin(client, staff, mfa_required):
    client.post(reverse("account_login"), {"login": staff.email, "password": TEST_PASSWORD})
    assert signed_in(client)

    response = client.get(ADMIN, follow=True)

    # sent to set up an authenticator app (which asks for the password again first)
    assert reverse("mfa_activate_totp") in [url for url, _status in response.redirect_chain]
    assert path_and_next(response.redirect_chain[-1][0]) == (
        reverse("account_reauthenticate"),
        reverse("mfa_activate_totp"),
    )
    assert client.get(reverse("admin:workspaces_apikey_changelist")).status_code == 302


def test_in_production_a_session_that_skipped_the_second_factor_gets_no_admin(
    client, staff, staff_totp, mfa_required
):
    client.force_login(staff)  # as an SSO or pre-MFA session would be: no code entered

    response = client.get(ADMIN, follow=True)

    assert path_and_next(response.redirect_chain[-1][0]) == (
        reverse("mfa_reauthenticate"),
        ADMIN,
    )
    # Entering the code opens the admin
    response = client.post(
        reverse("mfa_reauthenticate") + "?next=/admin/", {"code": totp_now(staff_totp)}
    )
    assert response["Location"] == ADMIN
    assert client.get(ADMIN).status_code == 200


def test_members_who_are_not_staff_get_no_admin(client, editor_user):
    client.force_login(editor_user)
    response = client.get(ADMIN, follow=True)
    assert response.status_code == 403


def test_production_settings_always_require_mfa_of_staff(tmp_path):

    root = Path(__file__).resolve().parents[2]
    env = {
        "PATH": os.environ.get("PATH", ""),
        "TRACKLAYER_ENV": "production",
        "SECRET_KEY": "x" * 50,
        "STAFF_MFA_REQUIRED": "false",  # cannot switch it off in production
        "REGION_DATABASES": "us=postgres://db-us.example.com/t,eu=postgres://db-eu.example.com/t",
        "PYTHONPATH": str(root),
    }
    out = subprocess.run(
        [sys.executable, "-c", "import tracklayer.settings as s; print(s.STAFF_MFA_REQUIRED)"],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "True"
