"""MFA secrets are sealed with the key ring, staff cannot read or change authenticators in the
admin, and every MFA change is audited — issue 11, finding 7."""

import importlib

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import (
    TOTP,
    generate_totp_secret,
)
from django.apps import apps
from django.core.management import call_command
from django.urls import reverse

from audit.models import AuditEntry
from tests.factories import TEST_PASSWORD
from tests.workspaces.helpers import activate_totp, sign_in, totp_now
from tracklayer import keyring
from workspaces.auth import mfa_adapter

pytestmark = pytest.mark.django_db

migration_0003 = importlib.import_module("workspaces.migrations.0003_encrypt_totp_secrets")


def stored(user, kind) -> dict:
    return Authenticator.objects.get(user=user, type=kind).data


# --- Sealed at rest ------------------------------------------------------------------------------


def test_the_totp_secret_is_stored_sealed_and_still_verifies(client, admin_user, workspace):
    secret = activate_totp(client, admin_user)

    data = stored(admin_user, Authenticator.Type.TOTP)
    assert data["secret"] != secret
    assert secret not in str(data)
    assert data["secret"].startswith("v1:")
    assert keyring.decrypt(data["secret"], context=mfa_adapter.CONTEXT).decode() == secret

    # Signing in with a code from the app still works
    client.logout()
    assert sign_in(client, admin_user.email)["Location"] == reverse("mfa_authenticate")
    response = client.post(reverse("mfa_authenticate"), {"code": totp_now(secret)})
    assert response.status_code == 302
    assert response["Location"] != reverse("mfa_authenticate")


def test_the_recovery_codes_seed_is_sealed_and_the_codes_still_work(admin_user):
    codes = RecoveryCodes.activate(admin_user)
    seed = stored(admin_user, Authenticator.Type.RECOVERY_CODES)["seed"]

    assert seed.startswith("v1:")
    assert len(codes.generate_codes()) == 10
    assert codes.validate_code(codes.generate_codes()[0])


def test_a_secret_written_in_clear_into_the_table_is_not_trusted(admin_user):
    # Someone with write access to the database plants a secret they know.
    planted = generate_totp_secret()
    authenticator = Authenticator.objects.create(
        user=admin_user, type=Authenticator.Type.TOTP, data={"secret": planted}
    )
    with pytest.raises(keyring.KeyringError):
        TOTP(authenticator).validate_code(totp_now(planted))


def test_migration_0003_seals_the_secrets_stored_in_clear(admin_user, other_admin_user):
    secret = generate_totp_secret()
    totp = Authenticator.objects.create(
        user=admin_user, type=Authenticator.Type.TOTP, data={"secret": secret}
    )
    codes = Authenticator.objects.create(
        user=admin_user,
        type=Authenticator.Type.RECOVERY_CODES,
        data={"seed": "ab" * 40, "used_mask": 0, "migrated_codes": ["12345678"]},
    )
    already = TOTP.activate(other_admin_user, generate_totp_secret()).instance
    sealed_before = dict(already.data)

    migration_0003.seal(apps, None)

    totp.refresh_from_db()
    codes.refresh_from_db()
    already.refresh_from_db()
    assert totp.data["secret"].startswith("v1:")
    assert TOTP(totp).validate_code(totp_now(secret))
    assert codes.data["seed"].startswith("v1:") and codes.data["used_mask"] == 0
    assert RecoveryCodes(codes).generate_codes() == ["12345678"]
    assert already.data == sealed_before  # sealed values are left as they are

    migration_0003.unseal(apps, None)
    totp.refresh_from_db()
    assert totp.data["secret"] == secret


def test_keyring_reencrypt_reseals_mfa_secrets(admin_user, settings, capsys):
    old = "old:" + "A" * 43 + "="
    new = "new:" + "B" * 43 + "="
    settings.TRACKLAYER_KEYRING = old
    secret = generate_totp_secret()
    totp = TOTP.activate(admin_user, secret).instance
    assert totp.data["secret"].startswith("v1:old:")

    settings.TRACKLAYER_KEYRING = f"{new},{old}"
    call_command("keyring_reencrypt")

    totp.refresh_from_db()
    assert totp.data["secret"].startswith("v1:new:")
    assert "mfa.Authenticator.data: 1 re-encrypted" in capsys.readouterr().out
    settings.TRACKLAYER_KEYRING = new  # the old key can go
    assert TOTP(totp).validate_code(totp_now(secret))


# --- Read-only in the admin -----------------------------------------------------------------------


def test_the_admin_shows_authenticators_read_only_and_never_their_secret(client, staff, workspace):
    secret = generate_totp_secret()
    totp = TOTP.activate(staff, secret).instance
    client.force_login(staff)
    change = reverse("admin:mfa_authenticator_change", args=[totp.pk])

    page = client.get(change)
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert secret.encode() not in page.content
    assert totp.data["secret"].encode() not in page.content

    changelist = client.get(reverse("admin:mfa_authenticator_changelist"))
    assert changelist.status_code == 200
    assert b"delete_selected" not in changelist.content

    assert client.post(change, {"user": staff.pk, "type": "totp", "data": "{}"}).status_code == 403
    delete = reverse("admin:mfa_authenticator_delete", args=[totp.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert client.get(reverse("admin:mfa_authenticator_add")).status_code == 403
    totp.refresh_from_db()
    assert Authenticator.objects.filter(pk=totp.pk).exists()


# --- Audited -------------------------------------------------------------------------------------


def test_regenerating_recovery_codes_is_audited(client, admin_user, workspace):
    activate_totp(client, admin_user)
    old_codes = Authenticator.objects.get(user=admin_user, type=Authenticator.Type.RECOVERY_CODES)

    client.post(reverse("account_reauthenticate"), {"password": TEST_PASSWORD})
    response = client.post(reverse("mfa_generate_recovery_codes"), {})

    assert response.status_code == 302
    assert not Authenticator.objects.filter(pk=old_codes.pk).exists()
    [entry] = AuditEntry.objects.filter(
        workspace=workspace, event_type="auth.mfa_recovery_codes_regenerated"
    )
    assert entry.actor == f"user:{admin_user.public_id}"
    # Activation itself is one entry, not one per authenticator allauth created.
    assert (
        AuditEntry.objects.filter(workspace=workspace, event_type="auth.mfa_enabled").count() == 1
    )
