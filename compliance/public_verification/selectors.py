"""What the public verification endpoints read: the workspace behind a public id (only while
it has opted in), its latest signed checkpoints and verifier keys, and an entry's RFC 9162
inclusion proof to the latest checkpoint — the audit entry page's proof document
(``audit.selectors.audit_entry_proof``), without the entry's contents.

Nothing else about the workspace is read or answered: not its name, members or settings.
A workspace that is unknown, deleted or not opted in is the same ``None``.
"""

import re

from django.db.models import F

from audit.models import AuditCheckpoint, AuditEntry, AuditSigningKey
from audit.selectors import (
    ProofStatus,
    audit_entry_proof,
    audit_entry_proof_document,
    audit_head,
)
from compliance.public_verification.models import PublicVerification
from compliance.public_verification.offline import COMMAND, CONTENT_FIELDS
from workspaces.models import Workspace

CHECKPOINTS_SHOWN = 10
# A workspace public id as tracklayer.ids makes them; anything else names no workspace (and
# never reaches the database: a NUL would make PostgreSQL refuse the query).
PUBLIC_ID = re.compile(r"ws_[0-9a-z]{20}")
ENTRY_HASH = re.compile(r"[0-9a-fA-F]{64}")


def public_verification_get(*, workspace) -> PublicVerification | None:
    return PublicVerification.objects.filter(workspace=workspace).first()


def public_workspace(*, public_id: str) -> Workspace | None:
    """The workspace with this public id if it exists, is not deleted and has opted in."""
    if not isinstance(public_id, str) or not PUBLIC_ID.fullmatch(public_id):
        return None
    return (
        Workspace.objects.active()
        .filter(public_id=public_id, public_verification__enabled=True)
        .first()
    )


def _checkpoint(checkpoint: AuditCheckpoint) -> dict:
    return {
        "size": checkpoint.size,
        "root": bytes(checkpoint.root).hex(),
        "signed_at": checkpoint.created_at,
        "verifier_key": checkpoint.signing_key.verifier_key,
        "note": checkpoint.note,
    }


def public_log(*, workspace) -> dict:
    """The log's origin, its latest signed checkpoints (newest first, the signed-note text as
    stored) and every verifier key it has used (the current one first)."""
    head = audit_head(workspace=workspace)
    checkpoints = list(
        AuditCheckpoint.objects.filter(workspace=workspace)
        .select_related("signing_key")
        .order_by("-size")[:CHECKPOINTS_SHOWN]
    )
    # The current key (never retired: NULL) first — PostgreSQL puts NULLs last ascending.
    keys = AuditSigningKey.objects.filter(workspace=workspace).order_by(
        F("retired_at").desc(nulls_first=True), "-created_at"
    )
    return {
        "origin": head.origin if head else None,
        "checkpoints": [_checkpoint(checkpoint) for checkpoint in checkpoints],
        "verifier_keys": [
            {
                "vkey": key.verifier_key,
                "current": key.retired_at is None,
                "created_at": key.created_at,
                "retired_at": key.retired_at,
            }
            for key in keys
        ],
    }


class EntryNotFound(Exception):
    pass


class EntryNotCheckpointed(Exception):
    def __init__(self, size: int):
        super().__init__(size)
        self.size = size


class CheckpointUnverified(Exception):
    """The latest checkpoint's signature does not verify: there is no signed root to prove
    anything to (the audit entry page's proof.json answers 409 ``audit_proof_failed`` too)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def public_inclusion_proof(*, workspace, entry_hash: str) -> dict:
    """The entry whose hash is ``entry_hash`` (64 hex digits; the caller checked the shape),
    proven to the latest signed checkpoint: the audit log's own proof document
    (``audit.selectors.audit_entry_proof_document``, the entry page's ``proof.json``: one
    format, one offline checker) with the entry's contents withheld (``CONTENT_FIELDS`` are
    null) and ``check`` naming the offline checker. The proof is verified here first, as the
    entry page does; ``status`` says how that went (``verified`` or ``failed``).

    ``EntryNotFound`` when this workspace's log has no such entry; ``EntryNotCheckpointed``
    when it is newer than the latest checkpoint (it will be covered by the next);
    ``CheckpointUnverified`` when that checkpoint's signature does not verify."""
    idx = (
        AuditEntry.objects.filter(workspace=workspace, hash=bytes.fromhex(entry_hash))
        .values_list("idx", flat=True)
        .first()
    )
    if idx is None:
        raise EntryNotFound()
    proof = audit_entry_proof(workspace=workspace, idx=idx)
    if proof["status"] == ProofStatus.PENDING:
        checkpoint = proof["checkpoint"]
        raise EntryNotCheckpointed(checkpoint.size if checkpoint else 0)
    if proof["root"] is None:
        raise CheckpointUnverified(proof["reason"])
    document = audit_entry_proof_document(workspace=workspace, proof=proof)
    return {
        **document,
        **dict.fromkeys(CONTENT_FIELDS),
        "check": f"{COMMAND} proof.json --vkey 'VERIFIER_KEY' [--material ENTRY_BYTES]",
    }
