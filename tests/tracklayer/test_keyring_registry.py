"""``keyring-reencrypt`` re-encrypts what the apps registered, and nothing it knows itself."""

from io import StringIO

import pytest
from django.core.management import call_command

from tests.tracklayer.helpers import ring
from tracklayer import keyring
from workspaces.models import Workspace


@pytest.fixture
def registry():
    """The registry as the apps left it, restored after the test."""
    before = dict(keyring._resealers)
    yield
    keyring._resealers.clear()
    keyring._resealers.update(before)


def test_every_app_registers_its_secrets_when_it_loads():
    assert {name for name, _ in keyring.resealers()} >= {
        "audit.AuditSigningKey.private_key_encrypted",
        "audit.AuditExportConfig.s3_secret_access_key_encrypted",
        "destinations.Destination.secrets_encrypted",
        "mfa.Authenticator.data",
    }


@pytest.mark.django_db
def test_a_new_sealed_field_is_reencrypted_once_registered(settings, registry, workspace):
    # Any text column can hold a ciphertext: the workspace's name stands in for a new app's.
    def context(row):
        return f"test-sealed-name:{row.public_id}"

    settings.TRACKLAYER_KEYRING = old = ring("old")
    sealed = keyring.encrypt(b"a new secret", context=context(workspace))
    Workspace.objects.filter(pk=workspace.pk).update(name=sealed)
    keyring.register_sealed_field("workspaces.Workspace", "name", context)
    settings.TRACKLAYER_KEYRING = f"{ring('new')},{old}"

    out = StringIO()
    call_command("keyring_reencrypt", stdout=out)

    workspace.refresh_from_db()
    assert workspace.name.startswith("v1:new:")
    assert keyring.decrypt(workspace.name, context=context(workspace)) == b"a new secret"
    assert "workspaces.Workspace.name: 1 re-encrypted" in out.getvalue()


@pytest.mark.django_db
def test_a_registered_resealer_is_run_and_reported(registry):
    calls = []

    def reseal() -> int:
        calls.append("called")
        return 3

    keyring.register_resealer("example.secrets", reseal)
    out = StringIO()
    call_command("keyring_reencrypt", stdout=out)

    assert calls == ["called"]
    assert "example.secrets: 3 re-encrypted" in out.getvalue()
