"""The audit log's only writer.

``audit_record`` is called by every service that changes something an auditor cares about,
inside that service's transaction: the change and its entry commit together or not at all.
"""

import datetime as dt
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from audit.advisory import (
    QUEUED_MARK,
    QUEUED_WHILE_LOCKED,
    advisory_key,
    key_hash,
    presented_key_matches,
)
from audit.canonical import canonical_json, rfc3339
from audit.chain import entry_hash
from audit.exceptions import (
    AdvisoryKeyInvalidError,
    AuditError,
    AuditIntegrityError,
    AuditLockedError,
    AuditPayloadError,
)
from audit.merkle import (
    ProofError,
    consistency_proof,
    frontier_append,
    frontier_root,
    leaf_hash,
    verify_consistency,
)
from audit.models import (
    AuditCheckpoint,
    AuditEntry,
    AuditExportConfig,
    AuditLogHead,
    AuditMerkleNode,
    AuditPendingEntry,
    AuditSigningKey,
    AuditVerification,
)
from audit.selectors import audit_verify
from audit.signed_note import Checkpoint, Signer, generate_signer, sign_checkpoint
from audit.tree import node_fetcher

# The publication lives with its task (audit.witness), below this module; re-exported so
# that callers keep asking the audit app's services.
from audit.witness import audit_checkpoint_publish as audit_checkpoint_publish
from audit.witness import audit_checkpoint_publish_task
from tracklayer import keyring
from tracklayer.exceptions import ConflictError
from workspaces import policy
from workspaces.actors import actor_ref

MATERIAL_VERSION = 1


def audit_log_open(*, workspace) -> AuditLogHead:
    """Create the workspace's empty log (idempotent). Its origin never changes afterwards."""
    AuditLogHead.objects.bulk_create(
        [AuditLogHead(workspace=workspace, origin=_origin_for(workspace))],
        ignore_conflicts=True,
    )
    return AuditLogHead.objects.get(workspace=workspace)


def _origin_for(workspace) -> str:
    return f"{settings.TRACKLAYER_AUDIT_ORIGIN}/{workspace.public_id}"


@dataclass(frozen=True)
class AuditEvent:
    """One entry to append: what happened, to what, with which details."""

    event_type: str
    resource_type: str
    resource_id: str
    payload: dict | None = None


def audit_record(
    *,
    workspace,
    actor,
    event_type: str,
    resource_type: str,
    resource_id: str,
    payload: dict | None = None,
) -> AuditEntry | AuditPendingEntry:
    """Append one entry to ``workspace``'s log, inside the caller's transaction.

    Guarantees: entries get idx 0, 1, 2, … with no gaps; each links to the previous by hash
    and is a leaf of the workspace's RFC 9162 Merkle tree (its completed subtrees stored, its
    right edge on the head); appends to one workspace are serialised by a row lock on its log
    head, while different workspaces never wait on each other; a payload that cannot be
    written canonically raises ``AuditPayloadError`` before anything is stored; while the
    advisory lock is on, nothing is appended without its key — the entry of a change the lock
    must not stop is queued (and returned as the ``AuditPendingEntry``), any other change is
    refused with ``AuditLockedError`` (see ``audit_record_many``).
    """
    [entry] = audit_record_many(
        workspace=workspace,
        actor=actor,
        events=[AuditEvent(event_type, resource_type, resource_id, payload)],
    )
    return entry


def audit_record_many(
    *, workspace, actor, events: Sequence[AuditEvent]
) -> list[AuditEntry] | list[AuditPendingEntry]:
    """Append several entries in order under one lock, one insert and one head update — the
    same guarantees as ``audit_record``, at a fraction of the cost per entry.

    While the advisory lock is on and the operation does not carry its key: entries whose
    type is in ``QUEUED_WHILE_LOCKED`` are queued instead — stored in this same transaction
    with the change's own time, returned as ``AuditPendingEntry`` rows, and appended in order
    when the lock lifts — and any other entry raises ``AuditLockedError``, so its change does
    not happen (docs/adr/0009)."""
    if not connection.in_atomic_block:
        raise AuditError("audit_record must run inside the transaction of the change it records")
    for event in events:
        if isinstance(event.payload, dict) and QUEUED_MARK in event.payload:
            raise AuditPayloadError(f"{QUEUED_MARK!r} is reserved in audit payloads.")
    head = AuditLogHead.objects.select_for_update().filter(workspace=workspace).first()
    if head is None:
        audit_log_open(workspace=workspace)
        head = AuditLogHead.objects.select_for_update().get(workspace=workspace)
    now = timezone.now()
    actor_name = actor_ref(actor)
    if head.advisory_key_hash and not presented_key_matches(head.advisory_key_hash):
        return _pending_queue(workspace=workspace, actor_name=actor_name, now=now, events=events)
    return _append(
        workspace=workspace,
        head=head,
        rows=[
            (e.event_type, e.resource_type, e.resource_id, actor_name, now, e.payload or {})
            for e in events
        ],
    )


# (event_type, resource_type, resource_id, actor reference, time of the change, payload)
_Row = tuple[str, str, str, str, dt.datetime, dict]


def _append(*, workspace, head: AuditLogHead, rows: Sequence[_Row]) -> list[AuditEntry]:
    """The one place entries are made: link, hash and grow the tree from ``head`` (locked by
    the caller, and kept current here so that a second call in the same transaction goes
    on from where this one stopped)."""
    size = head.size
    prev_hash = None if head.head_hash is None else bytes(head.head_hash)
    frontier = head.frontier_hashes
    entries, nodes = [], []
    for event_type, resource_type, resource_id, actor_name, moment, payload in rows:
        material = canonical_json(
            {
                "v": MATERIAL_VERSION,
                "origin": head.origin,
                "idx": size,
                "event_type": event_type,
                "resource_type": resource_type,
                "resource_id": resource_id,
                "actor": actor_name,
                "timestamp": rfc3339(moment),
                "payload": payload,
            }
        )
        digest = entry_hash(prev_hash, material)
        entries.append(
            AuditEntry(
                workspace=workspace,
                idx=size,
                prev_hash=prev_hash,
                hash=digest,
                material=material,
                event_type=event_type,
                resource_type=resource_type,
                resource_id=resource_id,
                actor=actor_name,
                timestamp=moment,
            )
        )
        frontier, completed = frontier_append(frontier, size, leaf_hash(material))
        nodes.extend(
            AuditMerkleNode(workspace=workspace, level=level, index=index, hash=node)
            for level, index, node in completed
        )
        size, prev_hash = size + 1, digest
    if not entries:
        return []
    AuditEntry.objects.bulk_create(entries)
    AuditMerkleNode.objects.bulk_create(nodes)
    head.size, head.head_hash, head.frontier = size, prev_hash, b"".join(frontier)
    AuditLogHead.objects.filter(pk=head.pk).update(
        size=size, head_hash=prev_hash, frontier=head.frontier, updated_at=timezone.now()
    )
    return entries


def _pending_queue(
    *, workspace, actor_name: str, now: dt.datetime, events: Sequence[AuditEvent]
) -> list[AuditPendingEntry]:
    """Keep the entries of changes the lock must not stop (the caller holds the head lock,
    so ``seq`` follows the order in which the changes commit); refuse everything else."""
    refused = sorted({e.event_type for e in events} - QUEUED_WHILE_LOCKED)
    if refused:
        raise AuditLockedError(
            "This workspace's audit log is under an advisory lock: changes are refused until "
            "an admin lifts the lock with its key (sign-ins, retention purges and exports go "
            "on, and are recorded when it lifts)."
        )
    last = (
        AuditPendingEntry.objects.filter(workspace=workspace).aggregate(last=Max("seq"))["last"]
        or 0
    )
    pending = [
        AuditPendingEntry(
            workspace=workspace,
            seq=last + offset,
            event_type=event.event_type,
            resource_type=event.resource_type,
            resource_id=event.resource_id,
            actor=actor_name,
            timestamp=now,
            # canonical now, so a payload the log could not take is refused with its change
            payload_json=canonical_json(event.payload or {}).decode(),
        )
        for offset, event in enumerate(events, start=1)
    ]
    return AuditPendingEntry.objects.bulk_create(pending)


def _pending_append(*, workspace, head: AuditLogHead) -> list[AuditEntry]:
    """Append, in ``seq`` order, every entry queued beyond the head's mark, and move the mark.

    The caller holds the head lock, so no entry can be queued or appended meanwhile; running
    it again appends nothing. Each entry keeps the time of its change and its actor; its
    payload gains ``queued_under_advisory_lock: {seq, queued_at}``, so the log itself shows
    which entries waited."""
    pending = list(
        AuditPendingEntry.objects.filter(
            workspace=workspace, seq__gt=head.pending_appended_seq
        ).order_by("seq")
    )
    if not pending:
        return []
    rows = [
        (
            p.event_type,
            p.resource_type,
            p.resource_id,
            p.actor,
            p.timestamp,
            {
                **json.loads(p.payload_json),
                QUEUED_MARK: {"seq": p.seq, "queued_at": rfc3339(p.timestamp)},
            },
        )
        for p in pending
    ]
    entries = _append(workspace=workspace, head=head, rows=rows)
    head.pending_appended_seq = pending[-1].seq
    AuditLogHead.objects.filter(pk=head.pk).update(pending_appended_seq=head.pending_appended_seq)
    return entries


# --- Signing keys and checkpoints ------------------------------------------------------------


def signing_key_context(key: AuditSigningKey) -> str:
    return f"audit-signing-key:{key.public_id}"


@transaction.atomic
def audit_signing_key_ensure(*, workspace, actor) -> AuditSigningKey:
    """The workspace's current checkpoint key, created (and recorded) on first use."""
    key = AuditSigningKey.objects.filter(workspace=workspace, retired_at__isnull=True).first()
    if key is not None:
        return key
    head = audit_log_open(workspace=workspace)
    signer_key, verifier_key = generate_signer(head.origin)
    key = AuditSigningKey(workspace=workspace, verifier_key=verifier_key)
    key.private_key_encrypted = keyring.encrypt(
        signer_key.encode(), context=signing_key_context(key)
    )
    key.save()
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="audit.signing_key_created",
        resource_type="audit_signing_key",
        resource_id=key.public_id,
        payload={"verifier_key": verifier_key},
    )
    return key


@transaction.atomic
def audit_checkpoint_sign(*, workspace, actor) -> AuditCheckpoint | None:
    """Sign the log's current size and root, if it grew since the last checkpoint.

    Before signing, the new tree must prove consistent with the last signed one (RFC 9162
    consistency proof from the stored subtrees): a log whose history was rewritten is never
    signed over. One checkpoint per size (a database constraint), so two roots for the same
    size cannot both be signed. Returns the latest checkpoint (None for an empty log).
    """
    key = audit_signing_key_ensure(workspace=workspace, actor=actor)
    head = AuditLogHead.objects.select_for_update().get(workspace=workspace)
    latest = AuditCheckpoint.objects.filter(workspace=workspace).order_by("-size").first()
    if head.size == 0 or (latest is not None and latest.size == head.size):
        return latest
    root = frontier_root(head.frontier_hashes)
    if latest is not None:
        if latest.size > head.size:
            raise AuditIntegrityError(
                f"The log has {head.size} entries but a checkpoint signed {latest.size}."
            )
        proof = consistency_proof(latest.size, head.size, node_fetcher(workspace))
        try:
            verify_consistency(latest.size, head.size, proof, bytes(latest.root), root)
        except ProofError as error:
            raise AuditIntegrityError(
                f"The log is not consistent with its checkpoint at size {latest.size}: {error}"
            ) from None
    signer = Signer.from_key(
        keyring.decrypt(key.private_key_encrypted, context=signing_key_context(key)).decode()
    )
    note = sign_checkpoint(Checkpoint(origin=head.origin, size=head.size, root=root), signer)
    checkpoint = AuditCheckpoint.objects.create(
        workspace=workspace, size=head.size, root=root, note=note, signing_key=key
    )
    if AuditExportConfig.objects.filter(workspace=workspace).exclude(witness_url="").exists():
        transaction.on_commit(lambda: audit_checkpoint_publish_task.delay(checkpoint.pk))
    return checkpoint


def audit_verify_record(*, workspace, actor) -> dict:
    """Verify the log now, keep the result, and write it to the log itself.

    Under the advisory lock the verification still runs and is returned, with
    ``recorded: False``: verifying changes nothing, only recording the run needs the log.
    """
    try:
        with transaction.atomic():
            result = audit_verify(workspace=workspace)
            run = AuditVerification.objects.create(
                workspace=workspace,
                valid=result["chain_status"] == "valid",
                total_events=result["total_events"],
                break_count=result["break_count"],
                result=result,
            )
            audit_record(
                workspace=workspace,
                actor=actor,
                event_type="audit.verified",
                resource_type="audit_log",
                resource_id=workspace.public_id,
                payload={
                    "chain_status": result["chain_status"],
                    "total_events": result["total_events"],
                    "break_count": result["break_count"],
                    "first_bad_idx": min(
                        (b["idx"] for b in result["broken_events"] if b["idx"] is not None),
                        default=None,
                    ),
                },
            )
    except AuditLockedError:
        return {**audit_verify(workspace=workspace), "recorded": False}
    return {**result, "last_verified_at": run.ran_at.isoformat(), "recorded": True}


# --- Advisory lock -----------------------------------------------------------------------------


@transaction.atomic
def audit_advisory_lock_enable(*, workspace, actor) -> str:
    """Lock the log; returns the key, shown this once. The enabling entry is the last one
    written without the key."""
    head = AuditLogHead.objects.select_for_update().get(workspace=workspace)
    if head.advisory_key_hash:
        raise ConflictError("The advisory lock is already enabled.")
    key = "tlal_" + secrets.token_urlsafe(32)
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="audit.advisory_lock_enabled",
        resource_type="audit_log",
        resource_id=workspace.public_id,
        payload={},
    )
    AuditLogHead.objects.filter(pk=head.pk).update(
        advisory_key_hash=key_hash(key), advisory_locked_at=timezone.now()
    )
    return key


@transaction.atomic
def audit_advisory_lock_disable(*, workspace, actor, key: str) -> list[AuditEntry]:
    """Lift the lock; only the original key does it. In the same transaction, the entries
    queued under the lock are appended in the order their changes committed, then the lifting
    itself (``pending_appended``: how many). Returns the entries appended."""
    head = AuditLogHead.objects.select_for_update().get(workspace=workspace)
    if not head.advisory_key_hash:
        raise ConflictError("The advisory lock is not enabled.")
    with advisory_key(key):
        if not presented_key_matches(head.advisory_key_hash):
            raise AdvisoryKeyInvalidError("That is not this workspace's advisory lock key.")
        appended = _pending_append(workspace=workspace, head=head)
        lifted = audit_record(
            workspace=workspace,
            actor=actor,
            event_type="audit.advisory_lock_disabled",
            resource_type="audit_log",
            resource_id=workspace.public_id,
            payload={"pending_appended": len(appended)},
        )
    AuditLogHead.objects.filter(pk=head.pk).update(advisory_key_hash="", advisory_locked_at=None)
    return [*appended, lifted]


@transaction.atomic
def audit_customer_event_record(
    *, workspace, actor, event_type: str, resource_id: str, payload: dict
) -> AuditEntry:
    """A customer's own event, namespaced ``custom.`` so it cannot pose as a system event."""
    return audit_record(
        workspace=workspace,
        actor=actor,
        event_type=f"custom.{event_type}",
        resource_type="custom",
        resource_id=resource_id,
        payload=payload,
    )


@transaction.atomic
def audit_signing_key_rotate(*, workspace, actor) -> AuditSigningKey:
    """Retire the current checkpoint key and start a new one. Old checkpoints stay verifiable
    with the retired key (verification uses every key the workspace ever had); the next
    checkpoint is signed with the new one."""
    policy.authorize(workspace=workspace, actor=actor, action=policy.Action.AUDIT_SETTINGS)
    current = (
        AuditSigningKey.objects.select_for_update()
        .filter(workspace=workspace, retired_at__isnull=True)
        .first()
    )
    if current is not None:
        current.retired_at = timezone.now()
        current.save(update_fields=["retired_at"])
        audit_record(
            workspace=workspace,
            actor=actor,
            event_type="audit.signing_key_retired",
            resource_type="audit_signing_key",
            resource_id=current.public_id,
            payload={"verifier_key": current.verifier_key},
        )
    return audit_signing_key_ensure(workspace=workspace, actor=actor)
