"""The same verification on every surface: the API (with proofs a client checks itself) and
the ``tracklayer audit`` command."""

import base64
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audit import services
from audit.merkle import leaf_hash, verify_consistency, verify_inclusion
from audit.models import AuditEntry
from audit.signed_note import Verifier, open_checkpoint
from tests.audit.tampering import as_owner_without_triggers
from tests.audit_entries import audit_count
from workspaces import services as workspace_services
from workspaces.actors import SystemActor
from workspaces.models import ApiKeyRole

ACTOR = SystemActor("tests")
b64 = base64.b64decode


@pytest.fixture
def viewer_token(workspace, make_api_key):
    return make_api_key(workspace, role=ApiKeyRole.VIEWER)[1]


def get(api_client, token, path, **params):
    return api_client.get(f"/v1/audit/{path}", params, HTTP_AUTHORIZATION=f"Bearer {token}")


def test_verify_api_answers_the_documented_shape(api_client, workspace, viewer_token):
    body = get(api_client, viewer_token, "verify").json()

    assert body["workspace_id"] == workspace.public_id
    assert body["chain_status"] == "valid"
    assert set(body) >= {
        "total_events",
        "break_count",
        "broken_events",
        "first_event",
        "last_event",
        "last_verified_at",
        "checkpoint",
    }


def test_a_write_key_may_not_read_the_audit_log(api_client, workspace, make_api_key):
    _key, token = make_api_key(workspace, role=ApiKeyRole.WRITE)
    assert get(api_client, token, "verify").status_code == 403


def test_checkpoint_is_a_signed_note_verifiable_with_the_published_key(
    api_client, workspace, viewer_token
):
    assert get(api_client, viewer_token, "checkpoint").status_code == 404
    services.audit_checkpoint_sign(workspace=workspace, actor=ACTOR)

    response = get(api_client, viewer_token, "checkpoint")

    assert response["Content-Type"].startswith("text/plain")
    checkpoint = open_checkpoint(
        response.content.decode(), Verifier.from_vkey(response["X-Verifier-Key"])
    )
    # the signing key's creation is itself an entry, covered by the first checkpoint
    assert checkpoint.size == audit_count(workspace)


def test_proofs_from_the_api_verify_on_the_client(api_client, workspace, viewer_token):
    services.audit_checkpoint_sign(workspace=workspace, actor=ACTOR)
    first = audit_count(workspace)
    for n in range(5):
        workspace_services.workspace_update(workspace=workspace, actor=ACTOR, name=f"Renamed {n}")
    entry = AuditEntry.objects.get(workspace=workspace, idx=2)

    inclusion = get(api_client, viewer_token, "proof/inclusion", index=2).json()
    consistency = get(api_client, viewer_token, "proof/consistency", first=first).json()

    assert b64(inclusion["leaf_hash"]) == leaf_hash(bytes(entry.material))
    verify_inclusion(
        b64(inclusion["leaf_hash"]),
        2,
        inclusion["size"],
        [b64(p) for p in inclusion["proof"]],
        b64(inclusion["root"]),
    )
    verify_consistency(
        first,
        consistency["second"],
        [b64(p) for p in consistency["proof"]],
        b64(consistency["first_root"]),
        b64(consistency["second_root"]),
    )
    assert consistency["second"] == inclusion["size"] == first + 5


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("proof/inclusion", {}, "index"),
        ("proof/inclusion", {"index": "x"}, "index"),
        ("proof/inclusion", {"index": 999}, "index"),
        ("proof/inclusion", {"index": 0, "size": 999}, "size"),
        ("proof/consistency", {"first": 0}, "first"),
        ("proof/consistency", {"first": 999}, "first"),
    ],
)
def test_bad_proof_requests_say_which_field(
    api_client, workspace, viewer_token, path, params, field
):
    response = get(api_client, viewer_token, path, **params)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error.get("field") == field or field in error.get("fields", {})


def run_cli(*args) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("audit", *args, stdout=out)
    except CommandError as error:
        return error.returncode, out.getvalue()
    return 0, out.getvalue()


def test_cli_verify_exits_0_when_valid_and_1_when_broken(workspace):
    code, output = run_cli("verify", "--workspace", workspace.slug, "--json")
    assert code == 0
    assert json.loads(output)["chain_status"] == "valid"

    entry = AuditEntry.objects.get(workspace=workspace, idx=0)
    as_owner_without_triggers(
        (
            "UPDATE audit_auditentry SET material = %s WHERE id = %s",
            [bytes(entry.material) + b" ", entry.pk],
        )
    )
    code, output = run_cli("verify", "--workspace", workspace.slug)
    assert code == 1
    assert "BROKEN" in output and "idx 0: hash_mismatch" in output


def test_cli_checkpoint_and_vkey_agree(workspace):
    _code, vkey = run_cli("vkey", "--workspace", workspace.slug)
    _code, note = run_cli("checkpoint", "--workspace", workspace.slug)
    head = workspace.audit_head
    head.refresh_from_db()

    checkpoint = open_checkpoint(note, Verifier.from_vkey(vkey.strip()), origin=head.origin)
    assert checkpoint.size == head.size
