"""The audit log view: an entry opens with its payload (before → after), the actor by name,
its hashes and its inclusion proof to the latest signed checkpoint, verified on the server."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from audit import selectors, services
from audit.models import AuditCheckpoint, AuditEntry
from audit.selectors import ProofStatus, audit_entry_proof, audit_payload_rows
from tests.audit.helpers import ACTOR, record_thing
from tests.audit.tampering import as_owner_without_triggers
from tests.audit_entries import last_row
from workspaces import policy
from workspaces import services as workspace_services
from workspaces.models import ApiKeyRole

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}
# The request's transaction (2), the gate and the layout (session, user, membership, the
# workspace list, the integrity banner: 5), the page: the entry, the checkpoint with its key,
# the head, the proof's subtrees in one query, the actor's name (5) — whatever the log's size
QUERY_BUDGET = 12


def entry_url(workspace, idx: int, name: str = "audit:entry") -> str:
    return reverse(name, kwargs={"slug": workspace.slug, "idx": idx})


def renamed(workspace, admin_user, name: str = "Acme Corp") -> AuditEntry:
    """The admin renames the workspace: ``changes: {name: {before, after}}``."""
    workspace_services.workspace_update(workspace=workspace, actor=admin_user, name=name)
    return last_row(workspace)


def test_an_entry_shows_its_change_actor_hashes_and_a_verified_proof(client, workspace, admin_user):
    # Given the admin renamed the workspace, and a checkpoint signed since
    entry = renamed(workspace, admin_user)
    services.audit_checkpoint_sign(workspace=workspace, actor=ACTOR)
    client.force_login(admin_user)

    # When the entry is opened
    response = client.get(entry_url(workspace, entry.idx))

    # Then the change is shown before → after, the actor by name, and every hash in full
    assert response.status_code == 200
    body = response.content.decode()
    assert "<del><code>Acme</code></del>" in body
    assert "<ins><code>Acme Corp</code></ins>" in body
    assert 'data-field="name"' in body
    assert "Ada Admin" in body
    assert entry.hash_hex in body and entry.prev_hash_hex in body
    proof = response.context["proof"]
    assert proof["leaf_hash"].hex() in body
    # …and the proof to the checkpoint verified, every step of its path shown
    assert proof["status"] == ProofStatus.VERIFIED
    assert 'data-status="verified"' in body and "✔ Verified" in body
    assert proof["size"] == AuditCheckpoint.objects.get(workspace=workspace).size
    assert proof["proof"] and all(step.hex() in body for step in proof["proof"])


def test_the_downloaded_proof_checks_offline_with_the_one_line_command(
    client, workspace, admin_user, tmp_path
):
    entry = renamed(workspace, admin_user)
    services.audit_checkpoint_sign(workspace=workspace, actor=ACTOR)
    client.force_login(admin_user)

    response = client.get(entry_url(workspace, entry.idx, "audit:entry-proof"))

    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="entry-{entry.idx}-proof.json"'
    document = response.json()
    assert document["index"] == entry.idx and document["hash"] == entry.hash_hex
    path = tmp_path / f"entry-{entry.idx}-proof.json"
    path.write_bytes(response.content)
    vkey = selectors.audit_verifier_key(workspace=workspace)

    def check(file: Path) -> subprocess.CompletedProcess:
        # The page's command, run as a reader would: a plain Python, no Django, no database
        module = selectors.PROOF_CHECK.removeprefix("python3 -m ")
        return subprocess.run(
            [sys.executable, "-m", module, str(file), vkey],
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            check=False,
            env={"PATH": "/usr/bin:/bin"},
        )

    result = check(path)
    assert result.returncode == 0, result.stderr
    assert f"verified: workspace.updated # {entry.idx}" in result.stdout

    # What it says was verified comes from the proven bytes, not from the file's other fields
    relabelled = tmp_path / "relabelled.json"
    relabelled.write_text(json.dumps({**document, "event_type": "workspace.deleted"}))
    said = check(relabelled)
    assert said.returncode == 0, said.stderr
    assert "workspace.updated" in said.stdout and "workspace.deleted" not in said.stdout

    # A proof whose entry bytes were changed does not check
    document["material"] = document["material"][:-4] + "AAA="
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(document))
    failed = check(forged)
    assert failed.returncode != 0 and failed.stderr.startswith("invalid: ")


def test_an_api_key_actor_is_named_by_the_key(
    api_client, client, workspace, admin_user, make_api_key
):
    _key, token = make_api_key(workspace, role=ApiKeyRole.AUDIT, name="Back office")
    api_client.post(
        "/v1/audit/events",
        {"event_type": "order.refunded", "resource_id": "ord_1", "payload": {"amount": 1200}},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    entry = last_row(workspace)
    client.force_login(admin_user)

    body = client.get(entry_url(workspace, entry.idx)).content.decode()

    assert "API key “Back office”" in body
    assert '<tr data-field="amount">' in body and "<code>1200</code>" in body


def test_an_entry_newer_than_the_last_checkpoint_says_when_the_next_is_expected(
    client, workspace, admin_user
):
    services.audit_checkpoint_sign(workspace=workspace, actor=ACTOR)
    entry = record_thing(workspace, 7)
    client.force_login(admin_user)

    response = client.get(entry_url(workspace, entry.idx))

    proof = response.context["proof"]
    assert proof["status"] == ProofStatus.PENDING and proof["next_checkpoint_at"] is not None
    body = response.content.decode()
    assert "Not yet covered by a checkpoint" in body
    assert "signed every 10 minutes" in body and "the next is expected by" in body
    # …and there is no proof to download yet
    refused = client.get(entry_url(workspace, entry.idx, "audit:entry-proof"))
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "audit_entry_not_covered"


def test_a_tampered_tree_node_shows_not_verified(client, workspace, admin_user):
    # Given a log of a few entries under a checkpoint
    for n in range(4):
        record_thing(workspace, n)
    services.audit_checkpoint_sign(workspace=workspace, actor=ACTOR)
    entry = AuditEntry.objects.get(workspace=workspace, idx=2)
    assert audit_entry_proof(workspace=workspace, idx=2)["status"] == ProofStatus.VERIFIED

    # When someone with the owner's access rewrites the stored hash of its sibling leaf
    as_owner_without_triggers(
        (
            "UPDATE audit_auditmerklenode SET hash = %s"
            " WHERE workspace_id = %s AND level = 0 AND index = 3",
            [bytes(32), workspace.pk],
        )
    )

    # Then the entry's proof no longer reaches the signed root
    client.force_login(admin_user)
    response = client.get(entry_url(workspace, entry.idx))
    assert response.context["proof"]["status"] == ProofStatus.FAILED
    body = response.content.decode()
    assert "✖ NOT verified" in body and "proof does not lead to the given root" in body


def test_an_edited_entry_shows_not_verified(workspace):
    entry = record_thing(workspace, 1)
    services.audit_checkpoint_sign(workspace=workspace, actor=ACTOR)
    assert b'"n":1' in bytes(entry.material)
    as_owner_without_triggers(
        (
            "UPDATE audit_auditentry SET material = %s WHERE id = %s",
            [bytes(entry.material).replace(b'"n":1', b'"n":2'), entry.pk],
        )
    )

    proof = audit_entry_proof(workspace=workspace, idx=entry.idx)

    assert proof["status"] == ProofStatus.FAILED


def test_a_checkpoint_with_a_wrong_root_does_not_verify(workspace):
    entry = record_thing(workspace, 1)
    checkpoint = services.audit_checkpoint_sign(workspace=workspace, actor=ACTOR)
    root_b64 = checkpoint.note.splitlines()[2]

    # A note claiming another root, with the genuine signature line
    forged = AuditCheckpoint(
        workspace=workspace,
        size=checkpoint.size,
        root=bytes(32),
        note=checkpoint.note.replace(root_b64, "A" * 43 + "="),
        signing_key=checkpoint.signing_key,
    )
    proof = audit_entry_proof(workspace=workspace, idx=entry.idx, checkpoint=forged)

    assert proof["status"] == ProofStatus.FAILED
    assert proof["reason"].startswith("checkpoint:")


def test_htmx_opens_the_entry_above_the_log_and_each_row_links_to_it(client, workspace, admin_user):
    client.force_login(admin_user)
    log = client.get(reverse("audit:log", kwargs={"slug": workspace.slug})).content.decode()
    url = entry_url(workspace, 0)
    assert f'href="{url}" hx-get="{url}" hx-target="#audit-entry-panel"' in log
    assert 'id="audit-entry-panel"' in log

    partial = client.get(url, **HTMX).content.decode()

    assert "<html" not in partial and 'id="audit-entry"' in partial
    assert "Open on its own page" in partial


def test_another_workspaces_entry_or_an_unknown_idx_is_404(
    client, workspace, admin_user, other_workspace, other_admin_user
):
    # Given the other workspace's log is longer than this one's
    for n in range(5):
        record_thing(other_workspace, n)
    beyond = last_row(other_workspace).idx
    assert not AuditEntry.objects.filter(workspace=workspace, idx=beyond).exists()
    client.force_login(admin_user)

    # An idx only the other workspace has, and one nobody has, are unknown here
    assert client.get(entry_url(workspace, beyond)).status_code == 404
    assert client.get(entry_url(workspace, 10**12)).status_code == 404
    assert client.get(entry_url(workspace, 10**30)).status_code == 404  # beyond bigint
    assert client.get(entry_url(workspace, beyond, "audit:entry-proof")).status_code == 404
    # …and the other workspace's entries are not reachable through its slug
    assert client.get(entry_url(other_workspace, 0)).status_code == 404
    client.force_login(other_admin_user)
    assert client.get(entry_url(other_workspace, beyond)).status_code == 200


def test_who_may_open_an_entry_is_who_may_read_the_log(client, workspace, viewer_user, monkeypatch):
    client.force_login(viewer_user)
    log = reverse("audit:log", kwargs={"slug": workspace.slug})
    assert client.get(log).status_code == 200
    assert client.get(entry_url(workspace, 0)).status_code == 200

    # A role without audit access is refused both, the same way
    monkeypatch.setitem(policy.ROLE_ACTIONS, "viewer", policy.READ - {policy.Action.AUDIT_VIEW})
    assert client.get(log).status_code == 403
    assert client.get(entry_url(workspace, 0)).status_code == 403
    assert client.get(entry_url(workspace, 0, "audit:entry-proof")).status_code == 403

    client.logout()
    assert client.get(entry_url(workspace, 0)).status_code == 302  # to sign in


def test_payload_rows_show_changes_values_and_hashes():
    digest = "ab" * 32
    rows, truncated = audit_payload_rows(
        {
            "changes": {
                "name": {"before": "Old", "after": "New"},
                "kept": {"before": 1, "after": 1},
            },
            "role": {"before": "viewer", "after": "admin"},
            "config": {"url": "https://x.test", "certificate_fingerprint": "AB:CD"},
            "checksum": digest,
            "ids": ["a", "b"],
            "deep": {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}},
        }
    )

    by_field = {row["field"]: row for row in rows}
    assert not truncated
    assert by_field["name"] == {
        "field": "name",
        "before": "Old",
        "after": "New",
        "changed": True,
        "hash": False,
    }
    assert by_field["kept"]["changed"] is False and by_field["kept"]["before"] == "1"
    assert by_field["role"]["after"] == "admin"
    assert by_field["config.url"]["value"] == "https://x.test"
    assert by_field["config.certificate_fingerprint"]["hash"] is True
    assert by_field["checksum"] == {"field": "checksum", "value": digest, "hash": True}
    assert by_field["ids"]["value"] == '["a","b"]'
    assert by_field["deep.a.b.c.d.e"]["value"] == '{"f":1}'


def test_a_huge_payload_is_cut_and_says_so():
    rows, truncated = audit_payload_rows({f"k{n}": n for n in range(2000)})
    assert truncated and len(rows) == selectors.PAYLOAD_ROWS_SHOWN


def test_an_entry_costs_a_fixed_number_of_queries(
    client, workspace, admin_user, django_assert_max_num_queries
):
    # However long the log: the O(log n) subtrees of the proof come in one query
    for n in range(40):
        record_thing(workspace, n)
    entry = renamed(workspace, admin_user)  # a member acted: their name is read
    services.audit_checkpoint_sign(workspace=workspace, actor=ACTOR)
    client.force_login(admin_user)

    with django_assert_max_num_queries(QUERY_BUDGET):
        response = client.get(entry_url(workspace, entry.idx))

    assert response.context["proof"]["status"] == ProofStatus.VERIFIED


def test_a_checkpoint_whose_signature_fails_is_said_so_not_pending(client, workspace, admin_user):
    entry = renamed(workspace, admin_user)
    checkpoint = services.audit_checkpoint_sign(workspace=workspace, actor=ACTOR)
    root_b64 = checkpoint.note.splitlines()[2]
    as_owner_without_triggers(
        (
            "UPDATE audit_auditcheckpoint SET note = %s WHERE id = %s",
            [checkpoint.note.replace(root_b64, "A" * 43 + "="), checkpoint.pk],
        )
    )
    client.force_login(admin_user)

    page = client.get(entry_url(workspace, entry.idx)).content.decode()
    assert 'data-status="failed"' in page and "NOT verified" in page

    refused = client.get(entry_url(workspace, entry.idx, "audit:entry-proof"))
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "audit_proof_failed"
    assert error["message"].startswith("checkpoint:")
