"""Rotating the checkpoint key and the key ring keeps every old checkpoint verifiable."""

import base64
import gzip
import json
import os
from io import StringIO

from django.core.management import call_command
from django.urls import reverse

from audit import export, selectors, services
from audit.models import AuditSigningKey, AuditVerification
from audit.offline import verify_export
from tracklayer import keyring
from workspaces import services as workspace_services


def test_old_checkpoints_still_verify_after_a_key_rotation(workspace, admin_user, tmp_path):
    first = services.audit_checkpoint_sign(workspace=workspace, actor=admin_user)
    old_vkey = first.signing_key.verifier_key

    new_key = services.audit_signing_key_rotate(workspace=workspace, actor=admin_user)
    workspace_services.workspace_update(workspace=workspace, actor=admin_user, name="Renamed")
    second = services.audit_checkpoint_sign(workspace=workspace, actor=admin_user)

    assert second.signing_key == new_key and new_key.verifier_key != old_vkey
    assert AuditSigningKey.objects.get(verifier_key=old_vkey).retired_at is not None
    assert selectors.audit_verify(workspace=workspace)["chain_status"] == "valid"

    document = export.audit_export_to_file(
        workspace=workspace, actor=admin_user, path=tmp_path / "a.json.gz"
    )
    raw = gzip.compress(json.dumps(document).encode())
    assert verify_export(raw, vkeys=[new_key.verifier_key, old_vkey]).report.valid
    # with only the new key, the old checkpoint cannot be checked: reported, not ignored
    only_new = verify_export(raw, vkeys=[new_key.verifier_key]).report
    assert {b.reason for b in only_new.breaks} == {"checkpoint_signature_invalid"}


def test_keyring_reencrypt_moves_every_secret_to_the_new_key(settings, workspace, admin_user):
    services.audit_checkpoint_sign(workspace=workspace, actor=admin_user)
    export.audit_export_config_update(
        workspace=workspace,
        actor=admin_user,
        values={"target": "s3", "s3_bucket": "b", "s3_access_key_id": "AKID"},
        s3_secret_access_key="secret",
    )
    old_id, old_key = keyring.keyring().keys[0]  # the development key used so far
    new = "k2:" + base64.b64encode(os.urandom(32)).decode()
    settings.TRACKLAYER_KEYRING = f"{new},{old_id}:{base64.b64encode(old_key).decode()}"

    out = StringIO()
    call_command("keyring_reencrypt", stdout=out)

    assert "1 re-encrypted" in out.getvalue()
    key = AuditSigningKey.objects.get(workspace=workspace)
    assert key.private_key_encrypted.startswith("v1:k2:")
    settings.TRACKLAYER_KEYRING = new  # the old key can now go
    workspace_services.workspace_update(workspace=workspace, actor=admin_user, name="Again")
    assert services.audit_checkpoint_sign(workspace=workspace, actor=admin_user) is not None


def test_a_broken_log_is_flagged_on_every_workspace_page(client, workspace, admin_user):

    AuditVerification.objects.create(
        workspace=workspace, valid=False, total_events=3, break_count=1, result={}
    )
    client.force_login(admin_user)
    page = client.get(reverse("dashboard:members", args=[workspace.slug]))
    assert b'data-testid="audit-broken-banner"' in page.content
