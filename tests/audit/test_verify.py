"""Verification detects tampering of every kind, and checkpoints are never signed over it."""

import hashlib
import threading

import pytest
from django.db import IntegrityError, connection, transaction

from audit import selectors, services
from audit.chain import entry_hash
from audit.exceptions import AuditIntegrityError
from audit.merkle import frontier_append, frontier_root, leaf_hash, root_from_leaf_hashes
from audit.models import AuditCheckpoint, AuditLogHead, AuditSigningKey
from audit.signed_note import Checkpoint, Signer, generate_signer, sign_checkpoint
from tests.audit.helpers import ACTOR, append_things
from tests.audit.tampering import as_owner_without_triggers
from tests.audit_entries import audit_rows, last_row
from tests.factories import WorkspaceFactory


@pytest.fixture
def log(db):
    """A workspace with a signed checkpoint over its first entries, and more after it."""
    workspace = WorkspaceFactory(owner=None)
    append_things(workspace, 6)
    services.audit_checkpoint_sign(workspace=workspace, actor=ACTOR)
    append_things(workspace, 3)
    return workspace


def reasons(result) -> list[tuple]:
    return [(b["idx"], b["reason"]) for b in result["broken_events"]]


def test_an_untouched_log_verifies_with_its_checkpoint(log):
    result = selectors.audit_verify(workspace=log)

    checkpoint = selectors.audit_checkpoint_latest(workspace=log)
    assert result["chain_status"] == "valid"
    assert result["total_events"] == AuditLogHead.objects.get(workspace=log).size
    assert result["checkpoint"] == {
        "size": checkpoint.size,
        "root": result["checkpoint"]["root"],
        "signature_valid": True,
        "consistent": True,
    }
    assert (result["first_event"]["idx"], result["last_event"]["idx"]) == (
        0,
        result["total_events"] - 1,
    )


def test_an_edited_entry_is_named(log):
    target = audit_rows(log)[3]
    forged = bytes(target.material).replace(b"thing_", b"THING_")
    as_owner_without_triggers(
        ("UPDATE audit_auditentry SET material = %s WHERE id = %s", [forged, target.pk])
    )

    result = selectors.audit_verify(workspace=log)

    assert result["chain_status"] == "broken"
    assert (3, "hash_mismatch") in reasons(result)
    assert result["checkpoint"]["consistent"] is False


def test_deleting_the_tail_and_hiding_it_in_the_head_is_a_truncation(log):
    rows = audit_rows(log)
    checkpoint = selectors.audit_checkpoint_latest(workspace=log)
    keep = rows[: checkpoint.size - 2]
    frontier: list[bytes] = []
    for size, entry in enumerate(keep):
        frontier, _ = frontier_append(frontier, size, leaf_hash(bytes(entry.material)))
    as_owner_without_triggers(
        ("DELETE FROM audit_auditentry WHERE workspace_id = %s AND idx >= %s", [log.pk, len(keep)]),
        (
            "UPDATE audit_auditloghead SET size = %s, head_hash = %s, frontier = %s "
            "WHERE workspace_id = %s",
            [len(keep), bytes(keep[-1].hash), b"".join(frontier), log.pk],
        ),
    )

    result = selectors.audit_verify(workspace=log)

    assert result["chain_status"] == "broken"
    assert (len(keep), "truncated") in reasons(result)


def test_deleting_the_tail_without_touching_the_head_is_seen_too(log):
    last = audit_rows(log)[-1]
    as_owner_without_triggers(("DELETE FROM audit_auditentry WHERE id = %s", [last.pk]))
    assert any(r == "head_mismatch" for _, r in reasons(selectors.audit_verify(workspace=log)))


def test_a_rewritten_and_rehashed_chain_contradicts_the_signed_checkpoint(log):
    """Hashes, links and head all recomputed: only the signed root can tell."""
    rows = audit_rows(log)
    statements, previous, frontier = [], None, []
    for size, entry in enumerate(rows):
        material = bytes(entry.material)
        if entry.idx == 2:
            material = material.replace(b"thing_", b"THING_")
        digest = entry_hash(previous, material)
        statements.append(
            (
                "UPDATE audit_auditentry SET material = %s, prev_hash = %s, hash = %s "
                "WHERE id = %s",
                [material, previous, digest, entry.pk],
            )
        )
        frontier, _ = frontier_append(frontier, size, leaf_hash(material))
        previous = digest
    statements.append(
        (
            "UPDATE audit_auditloghead SET head_hash = %s, frontier = %s WHERE workspace_id = %s",
            [previous, b"".join(frontier), log.pk],
        )
    )
    as_owner_without_triggers(*statements)

    result = selectors.audit_verify(workspace=log)

    assert result["chain_status"] == "broken"
    assert (None, "checkpoint_root_mismatch") in reasons(result)
    assert not any(r in ("hash_mismatch", "prev_hash_mismatch") for _, r in reasons(result))
    # …and no new checkpoint is ever signed over it.
    with pytest.raises(AuditIntegrityError, match="not consistent"):
        services.audit_checkpoint_sign(workspace=log, actor=ACTOR)


def test_swapped_entries_break_the_order(log):
    first, second = audit_rows(log)[4:6]
    as_owner_without_triggers(
        ("UPDATE audit_auditentry SET idx = 1000000 WHERE id = %s", [first.pk]),
        ("UPDATE audit_auditentry SET idx = %s WHERE id = %s", [first.idx, second.pk]),
        ("UPDATE audit_auditentry SET idx = %s WHERE id = %s", [second.idx, first.pk]),
    )

    result = selectors.audit_verify(workspace=log)

    assert result["chain_status"] == "broken"
    assert (first.idx, "prev_hash_mismatch") in reasons(result)


def test_a_checkpoint_forged_with_another_key_is_rejected(log):
    head = AuditLogHead.objects.get(workspace=log)
    forger = Signer.from_key(generate_signer(head.origin)[0])  # same name, different key
    fake_root = hashlib.sha256(b"whatever I like").digest()
    note = sign_checkpoint(Checkpoint(head.origin, head.size, fake_root), forger)
    key = AuditSigningKey.objects.get(workspace=log)
    AuditCheckpoint.objects.create(
        workspace=log, size=head.size, root=fake_root, note=note, signing_key=key
    )

    result = selectors.audit_verify(workspace=log)

    assert result["chain_status"] == "broken"
    assert (None, "checkpoint_signature_invalid") in reasons(result)


def test_two_checkpoints_for_one_size_cannot_exist(log):
    latest = selectors.audit_checkpoint_latest(workspace=log)
    with pytest.raises(IntegrityError), transaction.atomic():
        AuditCheckpoint.objects.create(
            workspace=log,
            size=latest.size,
            root=b"\0" * 32,
            note=latest.note,
            signing_key=latest.signing_key,
        )


def test_signing_is_idempotent_until_the_log_grows(log):
    first = services.audit_checkpoint_sign(workspace=log, actor=ACTOR)
    assert services.audit_checkpoint_sign(workspace=log, actor=ACTOR).pk == first.pk
    append_things(log, 1)
    assert services.audit_checkpoint_sign(workspace=log, actor=ACTOR).size == first.size + 1


def test_the_signing_key_is_encrypted_at_rest(log):
    key = AuditSigningKey.objects.get(workspace=log)
    assert key.private_key_encrypted.startswith("v1:")
    assert "PRIVATE+KEY" not in key.private_key_encrypted


def test_verify_record_keeps_the_result_and_logs_it(log):
    result = services.audit_verify_record(workspace=log, actor=ACTOR)

    entry = last_row(log)
    assert entry.event_type == "audit.verified"
    assert b'"chain_status":"valid"' in bytes(entry.material)
    assert selectors.audit_verification_latest(workspace=log).valid
    assert result["last_verified_at"] is not None


@pytest.mark.django_db(transaction=True)
def test_32_concurrent_writers_leave_one_tree_equal_to_a_recomputation():
    workspace = WorkspaceFactory(owner=None)
    start = threading.Barrier(32)
    errors: list[Exception] = []

    def writer() -> None:
        try:
            start.wait()
            append_things(workspace, 5)
        except Exception as error:  # reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    rows = audit_rows(workspace)
    assert [e.idx for e in rows] == list(range(len(rows)))
    head = AuditLogHead.objects.get(workspace=workspace)
    recomputed = root_from_leaf_hashes([leaf_hash(bytes(e.material)) for e in rows])
    assert head.size == len(rows) == 1 + 32 * 5
    assert frontier_root(head.frontier_hashes) == recomputed
    assert selectors.audit_verify(workspace=workspace)["chain_status"] == "valid"


def test_batched_appends_keep_every_guarantee(db):
    workspace = WorkspaceFactory(owner=None)
    batch = [services.AuditEvent("thing.batched", "thing", f"t{n}", {"n": n}) for n in range(37)]

    with transaction.atomic():
        written = services.audit_record_many(workspace=workspace, actor=ACTOR, events=batch)
        assert services.audit_record_many(workspace=workspace, actor=ACTOR, events=[]) == []
    append_things(workspace, 2)  # single appends continue the same chain and tree

    rows = audit_rows(workspace)
    assert [e.idx for e in written] == list(range(1, 38))
    assert [e.idx for e in rows] == list(range(40))
    head = AuditLogHead.objects.get(workspace=workspace)
    assert frontier_root(head.frontier_hashes) == root_from_leaf_hashes(
        [leaf_hash(bytes(e.material)) for e in rows]
    )
    assert selectors.audit_verify(workspace=workspace)["chain_status"] == "valid"
