"""Reads of the audit log, always for one workspace."""

import base64
import datetime as dt
import re
from collections.abc import Iterable, Iterator

import orjson
import psycopg
from django.conf import settings
from django.db import connection
from django.db.models import QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from audit.advisory import presented_key_matches
from audit.chain import ChainBreak, chain_breaks
from audit.exceptions import AuditProofRequestError
from audit.merkle import (
    ProofError,
    consistency_proof,
    frontier_root,
    inclusion_proof,
    leaf_hash,
    root_at,
    verify_inclusion,
)
from audit.models import (
    AuditCheckpoint,
    AuditEntry,
    AuditLogHead,
    AuditPendingEntry,
    AuditSigningKey,
    AuditVerification,
)
from audit.signed_note import NoteError, Verifier, open_checkpoint
from audit.tree import with_prefetched_nodes
from audit.verify import Break, verify_log
from tracklayer.exceptions import NotFoundError
from workspaces.models import ApiKey, Membership


def audit_entry_list(*, workspace, event_type: str | None = None) -> QuerySet[AuditEntry]:
    """Newest first."""
    entries = AuditEntry.objects.filter(workspace=workspace).order_by("-idx")
    if event_type:
        entries = entries.filter(event_type=event_type)
    return entries


def audit_entry_get(*, workspace, idx: int) -> AuditEntry:
    """Entry ``idx`` of ``workspace``'s log; NotFoundError for any other workspace's or none."""
    # an idx beyond the column's bigint is no entry (rather than a database error)
    in_range = 0 <= idx < 2**63
    entry = AuditEntry.objects.filter(workspace=workspace, idx=idx).first() if in_range else None
    if entry is None:
        raise NotFoundError("No such audit entry.")
    return entry


def audit_entry_material(entry: AuditEntry) -> dict:
    """The entry's hashed content (event type, actor, resource, payload …): ``material`` is
    authoritative, the other columns are copies for queries."""
    return orjson.loads(bytes(entry.material))


#: At most this many payload rows are shown (a customer's own event may hold any JSON object)
PAYLOAD_ROWS_SHOWN = 500
_PAYLOAD_DEPTH = 6
_HASH_WORDS = ("hash", "fingerprint", "digest", "checksum", "sha256")
_HASH_VALUE = re.compile(r"(sha256:)?([0-9a-f]{64}|[0-9A-F]{2}(:[0-9A-F]{2}){19,63})")


def _shown(value) -> str:
    """A payload value as text: a string as it is, anything else as its JSON."""
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _looks_like_hash(field: str, value) -> bool:
    return isinstance(value, str) and bool(
        _HASH_VALUE.fullmatch(value) or any(word in field.lower() for word in _HASH_WORDS)
    )


def audit_payload_rows(payload: dict) -> tuple[list[dict], bool]:
    """The payload field by field, for people: ``{field, value}`` rows, and ``{field, before,
    after, changed}`` rows where the writer recorded a change as ``{"before": …, "after": …}``
    (at any depth, and inside ``changes``, whose prefix is dropped). Nested objects become
    dotted names; lists and objects deeper than a few levels are shown as JSON. Each row says
    whether its values look like hashes (shown whole, in monospace). Returns the rows and
    whether there were more than PAYLOAD_ROWS_SHOWN."""
    rows: list[dict] = []

    def walk(value, field: str, depth: int) -> None:
        if len(rows) > PAYLOAD_ROWS_SHOWN:
            return
        if isinstance(value, dict) and value and depth < _PAYLOAD_DEPTH:
            if "before" in value and "after" in value:
                before, after = value["before"], value["after"]
                rows.append(
                    {
                        "field": field,
                        "before": _shown(before),
                        "after": _shown(after),
                        "changed": before != after,
                        "hash": _looks_like_hash(field, before) or _looks_like_hash(field, after),
                    }
                )
                rest = {k: v for k, v in value.items() if k not in ("before", "after")}
            else:
                rest = value
            for key, item in rest.items():
                name = key if field == "changes" else f"{field}.{key}"
                walk(item, name, depth + 1)
            return
        rows.append(
            {"field": field, "value": _shown(value), "hash": _looks_like_hash(field, value)}
        )

    for key, item in payload.items():
        walk(item, key, 1)
    return rows[:PAYLOAD_ROWS_SHOWN], len(rows) > PAYLOAD_ROWS_SHOWN


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
    return (
        AuditCheckpoint.objects.filter(workspace=workspace)
        .select_related("signing_key")
        .order_by("-size")
        .first()
    )


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


class ProofStatus:
    VERIFIED = "verified"  # the signed checkpoint's root is reached from the entry's own bytes
    FAILED = "failed"  # it is not: the entry, the stored tree or the checkpoint is not genuine
    PENDING = "pending"  # newer than the latest signed checkpoint


def audit_checkpoint_interval() -> int:
    """Seconds between the periodic checkpoint runs (``AUDIT_CHECKPOINT_INTERVAL_SECONDS``)."""
    schedule = settings.CELERY_BEAT_SCHEDULE.get("audit-checkpoints", {}).get("schedule", 600)
    return int(schedule.total_seconds() if hasattr(schedule, "total_seconds") else schedule)


def audit_checkpoint_next_at(*, workspace, now: dt.datetime) -> dt.datetime:
    """When the next periodic run signs a checkpoint over what the log holds now, at the
    latest: runs come every interval, so one interval after the last checkpoint when that is
    still ahead, else one interval from now."""
    interval = dt.timedelta(seconds=audit_checkpoint_interval())
    latest = audit_checkpoint_latest(workspace=workspace)
    if latest is not None and latest.created_at + interval > now:
        return latest.created_at + interval
    return now + interval


def audit_entry_proof(*, workspace, idx: int, checkpoint: AuditCheckpoint | None = None) -> dict:
    """Entry ``idx``'s RFC 9162 inclusion proof to a signed checkpoint (the latest unless one is
    given), verified here: the checkpoint's signature with the key that signed it, then the
    path from the leaf hash of the entry's own bytes to the signed root (``audit.merkle``).

    ``status`` is ProofStatus.VERIFIED, FAILED (``reason`` says why: a bad signature, a stored
    subtree that does not lead to the signed root, an edited entry) or PENDING (the entry is
    newer than the checkpoint; ``next_checkpoint_at`` says by when the next one is expected).
    Hashes are bytes; ``size`` and ``root`` are the signed ones."""
    entry = audit_entry_get(workspace=workspace, idx=idx)
    if checkpoint is None:
        checkpoint = audit_checkpoint_latest(workspace=workspace)
    result = {
        "entry": entry,
        "index": idx,
        "leaf_hash": leaf_hash(bytes(entry.material)),
        "status": ProofStatus.PENDING,
        "reason": "",
        "size": None,
        "root": None,
        "proof": [],
        "checkpoint": checkpoint,
        "verifier_key": None,
        "next_checkpoint_at": None,
    }
    if checkpoint is not None:
        result["verifier_key"] = checkpoint.signing_key.verifier_key
        head = audit_head(workspace=workspace)
        try:
            signed = open_checkpoint(
                checkpoint.note,
                Verifier.from_vkey(result["verifier_key"]),
                origin=head.origin if head else None,
            )
        except NoteError as error:
            return {**result, "status": ProofStatus.FAILED, "reason": f"checkpoint: {error}"}
        result |= {"size": signed.size, "root": signed.root}
        if idx < signed.size:
            return _checked_inclusion(workspace, result)
    return {
        **result,
        "next_checkpoint_at": audit_checkpoint_next_at(workspace=workspace, now=timezone.now()),
    }


def _checked_inclusion(workspace, result: dict) -> dict:
    index, size = result["index"], result["size"]
    try:
        result["proof"] = with_prefetched_nodes(
            workspace, lambda fetch: inclusion_proof(index, size, fetch)
        )
    except KeyError:
        return {
            **result,
            "status": ProofStatus.FAILED,
            "reason": f"the stored tree lacks subtrees of the signed size {size}",
        }
    try:
        verify_inclusion(result["leaf_hash"], index, size, result["proof"], result["root"])
    except ProofError as error:
        return {**result, "status": ProofStatus.FAILED, "reason": str(error)}
    return {**result, "status": ProofStatus.VERIFIED}


#: The file the entry page offers to download, and how to check it without TrackLayer's
#: server. One format and one checker: public verification serves the same document with the
#: entry's contents withheld, and this pure module (audit.merkle, audit.chain,
#: audit.signed_note; no database, no settings) checks either, the key given second.
PROOF_FORMAT = "tracklayer.audit-inclusion-proof.v1"
PROOF_CHECK = "python3 -m compliance.public_verification.offline"


def _b64(value) -> str:
    return base64.b64encode(bytes(value)).decode()


def audit_entry_proof_document(*, workspace, proof: dict) -> dict:
    """``audit_entry_proof``'s answer as a self-contained JSON document: the entry's exact
    bytes, the proof and the signed checkpoint, hashes in base64 as ``/v1/audit/proof/…``
    gives them; PROOF_CHECK verifies it against the verifier key the reader trusts."""
    entry = proof["entry"]
    return {
        "format": PROOF_FORMAT,
        "workspace_id": workspace.public_id,
        "index": entry.idx,
        "event_id": entry.public_id,
        "event_type": entry.event_type,
        "material": _b64(entry.material),
        "hash": entry.hash_hex,
        "prev_hash": entry.prev_hash_hex,
        "leaf_hash": _b64(proof["leaf_hash"]),
        "size": proof["size"],
        "root": _b64(proof["root"]) if proof["root"] is not None else None,
        "proof": [_b64(step) for step in proof["proof"]],
        "checkpoint": proof["checkpoint"].note if proof["checkpoint"] else None,
        "verifier_key": proof["verifier_key"],
        "status": proof["status"],
        "check": f"{PROOF_CHECK} entry-{entry.idx}-proof.json 'VERIFIER_KEY'",
    }


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
    # first and last of the entries this run checked (idx 0 … total_events − 1): an entry
    # appended while it ran is "newer", not the last one verified
    entries = AuditEntry.objects.filter(workspace=workspace, idx__lt=report.total_events)
    last_run = AuditVerification.objects.filter(workspace=workspace).first()
    # Entries appended while this ran (the head is read again: outside a transaction, appends
    # committed meanwhile are seen) are the "newer" ones, for the next run.
    current = audit_head(workspace=workspace) or head
    current_events = current.size if current else 0
    return {
        "workspace_id": workspace.public_id,
        # the same public id, under the name the seed's callers use
        "merchant_id": workspace.public_id,
        "chain_status": "broken" if breaks else "valid",
        "total_events": report.total_events,
        "verified_events": report.total_events,
        "current_events": current_events,
        "newer_events": max(0, current_events - report.total_events),
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


def audit_verify_coverage(
    *, workspace, result: dict | None, current: int | None = None
) -> dict | None:
    """What a verification ``result`` (a run just made or a recorded one) covered against the
    log as it is now — "39 verified · 4 newer": ``verified`` entries checked, ``newer`` ones
    appended since (the run's own ``audit.verified`` record among them), ``current`` in all
    (the head's size: read here unless the caller passes it)."""
    if result is None:
        return None
    if current is None:
        head = audit_head(workspace=workspace)
        current = head.size if head else 0
    verified = result.get("verified_events", result.get("total_events", 0))
    return {"verified": verified, "current": current, "newer": max(0, current - verified)}


def audit_actor_names(*, workspace, actors: Iterable[str]) -> dict[str, str]:
    """Who acted, by name: ``user:usr_…`` → the member's name (members of this workspace
    only), ``api_key:key_…`` → the key's name (this workspace's keys only), ``scim:sct_…`` and
    ``system:<component>`` → what they are. Anything else keeps its id (absent here). Two
    queries, however many actors."""
    ids: dict[str, set[str]] = {}
    for actor in actors:
        kind, _, ref = actor.partition(":")
        ids.setdefault(kind, set()).add(ref)
    members = Membership.objects.filter(
        workspace=workspace, user__public_id__in=ids.get("user", ())
    ).select_related("user")
    names = {f"user:{m.user.public_id}": m.user.display_name for m in members}
    keys = ApiKey.objects.filter(workspace=workspace, public_id__in=ids.get("api_key", ()))
    names |= {f"api_key:{key.public_id}": f"API key “{key.name}”" for key in keys}
    names |= {f"scim:{ref}": f"SCIM provisioning ({ref})" for ref in ids.get("scim", ())}
    names |= {f"system:{ref}": f"TrackLayer ({ref})" for ref in ids.get("system", ())}
    return names
