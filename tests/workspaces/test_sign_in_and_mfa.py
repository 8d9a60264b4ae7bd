"""Sign-in and MFA through allauth's real views; each outcome lands in the audit log."""

import pytest
from django.urls import reverse

from audit.models import AuditEntry
from tests.audit_entries import audit_rows
from tests.factories import TEST_PASSWORD
from tests.workspaces.helpers import activate_totp, sign_in, totp_now
from workspaces import services


@pytest.mark.django_db
def test_a_successful_sign_in_is_recorded_in_each_of_the_users_workspaces(
    client, admin_user, workspace, other_workspace, system_actor
):

    services.member_add(
        workspace=other_workspace, actor=system_actor, user=admin_user, role="viewer"
    )

    response = sign_in(client, admin_user.email)

    assert response.status_code == 302
    for ws in (workspace, other_workspace):
        [entry] = audit_rows(ws, event_type="auth.sign_in_succeeded")
        assert entry.resource_id == admin_user.public_id
        assert entry.actor == f"user:{admin_user.public_id}"
        assert b'"method":"password"' in bytes(entry.material)


@pytest.mark.django_db
def test_a_wrong_password_is_recorded_without_the_address_or_the_password(
    client, admin_user, workspace
):
    response = sign_in(client, admin_user.email, password="wrong password!")

    assert response.status_code == 200  # the form again, with its error
    [entry] = audit_rows(workspace, event_type="auth.sign_in_failed")
    material = bytes(entry.material).decode()
    assert entry.actor == "system:authentication"
    assert '"reason":"bad_credentials"' in material
    assert admin_user.email not in material and "wrong password" not in material


@pytest.mark.django_db
def test_a_sign_in_attempt_on_an_unknown_address_writes_no_entry(client, workspace):
    before = AuditEntry.objects.count()
    sign_in(client, "nobody@example.test")
    assert AuditEntry.objects.count() == before


@pytest.mark.django_db
def test_totp_enable_sign_in_with_code_and_disable_are_all_audited(client, admin_user, workspace):
    # Given a signed-in admin, who confirms their password and activates an authenticator app
    secret = activate_totp(client, admin_user)
    [enabled] = audit_rows(workspace, event_type="auth.mfa_enabled")
    assert b'"type":"totp"' in bytes(enabled.material)

    # When they sign in again, the password alone is not enough
    client.logout()
    response = sign_in(client, admin_user.email)
    assert response["Location"] == reverse("mfa_authenticate")
    signed_in_before = len(audit_rows(workspace, event_type="auth.sign_in_succeeded"))

    # A wrong code is refused and recorded
    client.post(reverse("mfa_authenticate"), {"code": "000000"})
    [failed] = audit_rows(workspace, event_type="auth.sign_in_failed")
    assert b'"reason":"bad_mfa_code"' in bytes(failed.material)

    # The right code signs them in, recorded as password+mfa
    response = client.post(reverse("mfa_authenticate"), {"code": totp_now(secret)})
    assert response.status_code == 302
    latest = audit_rows(workspace, event_type="auth.sign_in_succeeded")[signed_in_before:]
    assert [b'"method":"password+mfa"' in bytes(e.material) for e in latest] == [True]

    # Then deactivating MFA (after confirming the password again) is recorded too
    client.post(reverse("account_reauthenticate"), {"password": TEST_PASSWORD})
    response = client.post(reverse("mfa_deactivate_totp"), {})
    assert response.status_code == 302
    assert len(audit_rows(workspace, event_type="auth.mfa_disabled")) == 1
