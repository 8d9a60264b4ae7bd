"""Reads of the audit log, always for one workspace."""

import base64
import datetime as dt
from collections.abc import Iterator

import orjson
import psycopg
from django.db import connection
from django.db.models import QuerySet, Subquery
from django.db.models.functions import Coalesce

from audit.advisory import presented_key_matches
from audit.chain import ChainBreak, chain_breaks
from audit.exceptions import AuditProofRequestError
from audit.merkle import consistency_proof, frontier_root, inclusion_proof, root_at
from audit.models import (
    AuditCheckpoint,
    AuditEntry,
    AuditLogHead,
    AuditPendingEntry,
    AuditSigningKey,
    AuditVerification,
)
from audit.tree import with_prefetched_nodes
from audit.verify import Break, verify_log


def audit_entry_list(*, workspace, event_type: str | None = None) -> QuerySet[AuditEntry]:
    """Newest first."""
    entries = AuditEntry.objects.filter(workspace=workspace).order_by("-idx")
    if event_type:
        entries = entries.filter(event_type=event_type)
    return entries


def audit_export_files(*, workspace, exported_before: dt.datetime) -> list[str]:
    """The files this workspace's directory exports wrote before ``exported_before`` and that
    no later run has recorded as deleted, oldest first — as paths inside the workspace's export
    area. The log is the record: each ``audit.exported`` entry of a directory export names the
    ``path`` it wrote and the ``deleted_paths`` its retention removed (entries from before
    exports were confined to the area carry no ``path`` and are not counted)."""
    written: dict[str, dt.datetime] = {}
    rows = (
        AuditEntry.objects.filter(workspace=workspace, event_type="audit.exported")
        .order_by("idx")
        .values_list("timestamp", "material")
        .iterator(chunk_size=500)
    )
    for timestamp, material in rows:
        payload = orjson.loads(bytes(material))["payload"]
        if payload.get("target") != "directory":
            continue
        for path in payload.get("deleted_paths", ()):
            written.pop(path, None)
        if isinstance(payload.get("path"), str):
            written[payload["path"]] = timestamp
    return [path for path, timestamp in written.items() if timestamp < exported_before]


def audit_event_types(*, workspace) -> list[str]:
    return list(
        AuditEntry.objects.filter(workspace=workspace)
        .order_by("event_type")
        .values_list("event_type", flat=True)
        .distinct()
    )


def audit_head(*, workspace) -> AuditLogHead | None:
    return AuditLogHead.objects.filter(workspace=workspace).first()


def audit_locked(*, workspace) -> bool:
    """Whether ``workspace``'s log is under an advisory lock that this request has not
    presented the key of: what ``audit_record`` would refuse (but for QUEUED_WHILE_LOCKED).
    For work that must be refused before it starts rather than at its audit entry."""
    head = audit_head(workspace=workspace)
    return bool(
        head is not None
        and head.advisory_key_hash
        and not presented_key_matches(head.advisory_key_hash)
    )


def audit_pending_list(*, workspace) -> QuerySet[AuditPendingEntry]:
    """The entries queued under the advisory lock that the log does not hold yet, in the order
    they will be appended when it lifts (empty while the log is not locked)."""
    appended = AuditLogHead.objects.filter(workspace=workspace).values("pending_appended_seq")
    return AuditPendingEntry.objects.filter(
        workspace=workspace, seq__gt=Coalesce(Subquery(appended), 0)
    ).order_by("seq")


def audit_chain_breaks(*, workspace) -> list[ChainBreak]:
    """Walk the whole chain in idx order (streamed) and return every break."""
    rows = (
        AuditEntry.objects.filter(workspace=workspace)
        .order_by("idx")
        .values_list("idx", "prev_hash", "hash", "material")
        .iterator(chunk_size=2000)
    )
    return chain_breaks(rows)


# --- Tree, proofs, checkpoints, verification -------------------------------------------------


def audit_checkpoint_latest(*, workspace) -> AuditCheckpoint | None:
    return AuditCheckpoint.objects.filter(workspace=workspace).order_by("-size").first()


def audit_verifier_key(*, workspace) -> str | None:
    return (
        AuditSigningKey.objects.filter(workspace=workspace, retired_at__isnull=True)
        .values_list("verifier_key", flat=True)
        .first()
    )


def _root(head, size: int, fetch) -> bytes:
    # the current root is on the head (the tree's right edge); older ones come from nodes
    return frontier_root(head.frontier_hashes) if size == head.size else root_at(size, fetch)


def _head_and_size(workspace):
    head = audit_head(workspace=workspace)
    return head, (head.size if head else 0)


def audit_inclusion_proof(*, workspace, index: int, size: int | None = None) -> dict:
    """RFC 9162 inclusion proof of entry ``index`` in the tree of ``size`` entries."""
    head, current = _head_and_size(workspace)
    size = current if size is None else size
    if not 0 < size <= current:
        raise AuditProofRequestError(f"size must be between 1 and {current}.", field="size")
    if not 0 <= index < size:
        raise AuditProofRequestError(f"index must be below size ({size}).", field="index")
    return with_prefetched_nodes(
        workspace,
        lambda fetch: {
            "index": index,
            "size": size,
            "leaf_hash": fetch([(0, index)])[(0, index)],
            "root": _root(head, size, fetch),
            "proof": inclusion_proof(index, size, fetch),
        },
    )


def audit_consistency_proof(*, workspace, first: int, second: int | None = None) -> dict:
    """RFC 9162 consistency proof between the trees of ``first`` and ``second`` entries."""
    head, current = _head_and_size(workspace)
    second = current if second is None else second
    if not 0 < second <= current:
        raise AuditProofRequestError(f"second must be between 1 and {current}.", field="second")
    if not 0 < first <= second:
        raise AuditProofRequestError(f"first must be between 1 and {second}.", field="first")
    return with_prefetched_nodes(
        workspace,
        lambda fetch: {
            "first": first,
            "second": second,
            "first_root": _root(head, first, fetch),
            "second_root": _root(head, second, fetch),
            "proof": consistency_proof(first, second, fetch),
        },
    )


def _entry_summary(entry: AuditEntry | None) -> dict | None:
    if entry is None:
        return None
    return {
        "idx": entry.idx,
        "event_id": entry.public_id,
        "event_type": entry.event_type,
        "timestamp": entry.timestamp.isoformat(),
        "hash": entry.hash_hex,
    }


#: Rows per chunk streamed to audit_verify: small enough to keep memory flat (~300 bytes a
#: row), large enough that fetching costs next to nothing per row.
VERIFY_STREAM_ROWS = 5000
_ENTRY_ROWS = (
    "SELECT idx, prev_hash, hash, material FROM audit_auditentry"
    " WHERE workspace_id = %s ORDER BY idx"
)


def _entry_rows(workspace) -> Iterator[tuple[int, bytes | None, bytes, bytes]]:
    """Every entry of the workspace as ``(idx, prev_hash, hash, material)``, in idx order.

    Read through psycopg directly, on Django's connection (so inside the caller's transaction
    and snapshot), for speed: at a million entries the ORM's server-side cursor took longer
    to fetch the rows than verify_log took to hash them. Two things make the difference:

    - binary rows: bytea arrives as bytes rather than as hex text to decode (Django's cursors
      bind parameters client-side, and such cursors cannot ask for binary results);
    - ``stream(size=…)``, libpq's chunked-rows mode: PostgreSQL keeps sending rows (on the
      other core) while this process hashes those it has, where a server-side cursor waits a
      round trip per FETCH with the database idle in between. It needs libpq 17+, which
      psycopg[binary] bundles; with an older libpq, rows come one at a time.

    The hashing stays in Python, in verify_log, rather than in SQL (``sha256()`` exists since
    PostgreSQL 11): the online and offline verifiers then share every check by construction,
    and SQL was no faster. One backend computing both hashes and the links (``lag()``) of a
    million entries took ~2.8 s on its own, as long as this whole verification; computing
    only the leaf hashes there measured within the noise of it. docs/benchmarks.md has more.
    """
    size = VERIFY_STREAM_ROWS if psycopg.capabilities.has_stream_chunked() else 1
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        yield from cursor.stream(_ENTRY_ROWS, [workspace.pk], binary=True, size=size)


def audit_verify(*, workspace) -> dict:
    """Recompute the whole log and check it against the head and every signed checkpoint.

    Read-only. The same checks as the offline verifier (``audit.verify.verify_log``) plus the
    database's own state: the head's size, last hash and root must match the entries.
    """
    head = audit_head(workspace=workspace)
    report = verify_log(
        _entry_rows(workspace),
        checkpoints=list(
            AuditCheckpoint.objects.filter(workspace=workspace)
            .order_by("size")
            .values_list("note", flat=True)
        ),
        verifier_keys=list(
            AuditSigningKey.objects.filter(workspace=workspace).values_list(
                "verifier_key", flat=True
            )
        ),
        origin=head.origin if head else None,
    )
    breaks = list(report.breaks)
    if head is not None and head.size != report.total_events:
        breaks.append(
            Break(
                min(head.size, report.total_events),
                "head_mismatch",
                f"the log head says {head.size} entries; {report.total_events} are stored",
            )
        )
    elif (
        head is not None
        and report.total_events
        and (frontier_root(head.frontier_hashes) != report.root)
    ):
        breaks.append(Break(None, "head_root_mismatch", "the stored tree is not the entries'"))
    entries = AuditEntry.objects.filter(workspace=workspace)
    last_run = AuditVerification.objects.filter(workspace=workspace).first()
    return {
        "workspace_id": workspace.public_id,
        "chain_status": "broken" if breaks else "valid",
        "total_events": report.total_events,
        "break_count": len(breaks),
        "broken_events": [b.as_dict() for b in breaks[:100]],
        "first_event": _entry_summary(entries.order_by("idx").first()),
        "last_event": _entry_summary(entries.order_by("-idx").first()),
        "root": base64.b64encode(report.root).decode() if report.total_events else None,
        "last_verified_at": last_run.ran_at.isoformat() if last_run else None,
        "checkpoint": report.checkpoint.as_dict() if report.checkpoint else None,
    }


def audit_verification_latest(*, workspace) -> AuditVerification | None:
    return AuditVerification.objects.filter(workspace=workspace).first()
