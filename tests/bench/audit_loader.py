"""Bench-only bulk loader: grow one workspace's audit log to a million entries in seconds.

``audit_record`` appends one entry per transaction (~350/s, bound by the commit rate), so a
million of them would take most of an hour. This loader writes what ``audit_record`` would
have written, in bulk:

- material: the canonical JSON (RFC 8785) object ``audit_record`` builds, filled into a byte
  template instead of running ``canonical_json`` per entry (13 µs each). Every
  ``CROSS_CHECK_EVERY``-th entry is compared with ``canonical_json`` of the same object, so
  the template cannot drift from the real format unnoticed;
- ``hash = SHA-256(prev_hash || material)``, chained on from the head's last hash, and the
  Merkle tree's completed subtrees, by the functions ``audit_record`` uses
  (``audit.chain.entry_hash``, ``audit.merkle.leaf_hash`` and ``frontier_append``); the
  head's size, last hash and frontier at the end;
- every row through PostgreSQL ``COPY`` (binary), which psycopg sends from a background
  thread while this one generates the next rows.

It continues whatever log the workspace has, inside one transaction holding the head's row
lock, so ``audit_record`` appends before and after it chain on seamlessly. Nothing here is
taken on trust: the benchmark runs ``audit_verify`` on the result and prints its verdict, and
``audit_checkpoint_sign`` after a load checks a consistency proof over the stored tree.
"""

import datetime as dt
import secrets
from contextlib import contextmanager

from django.db import connection, transaction

from audit.canonical import canonical_json, rfc3339
from audit.chain import entry_hash
from audit.merkle import frontier_append, leaf_hash
from audit.models import AuditEntry, AuditLogHead, AuditMerkleNode
from audit.services import MATERIAL_VERSION
from workspaces.actors import actor_ref

CHUNK = 50_000  # entries per COPY; their tree nodes follow in a COPY of their own
CROSS_CHECK_EVERY = 997  # prime, so the checked idx fall on every residue of CHUNK and 1000
EVENT_TYPE = "bench.bulk"
RESOURCE_TYPE = "bench_item"
# Entry idx is stamped EPOCH + idx milliseconds: the same bytes on every run.
EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
_ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # tracklayer.ids' Crockford base32

_ENTRY_COLUMNS = {
    "workspace_id": "int8",
    "public_id": "text",
    "idx": "int8",
    "prev_hash": "bytea",
    "hash": "bytea",
    "material": "bytea",
    "event_type": "text",
    "resource_type": "text",
    "resource_id": "text",
    "actor": "text",
    "timestamp": "timestamptz",
}
_NODE_COLUMNS = {"workspace_id": "int8", "level": "int2", "index": "int8", "hash": "bytea"}


def _material_object(origin: str, actor: str, idx: int, timestamp: str) -> dict:
    """The object audit_record would hash for this entry (for the cross-check)."""
    return {
        "v": MATERIAL_VERSION,
        "origin": origin,
        "idx": idx,
        "event_type": EVENT_TYPE,
        "resource_type": RESOURCE_TYPE,
        "resource_id": f"item_{idx}",
        "actor": actor,
        "timestamp": timestamp,
        "payload": {"batch": idx // 1000, "n": idx},
    }


def _material_template(origin: str, actor: str) -> bytes:
    """``template % (idx, batch, idx, idx, timestamp)`` is ``canonical_json`` of
    :func:`_material_object`.

    RFC 8785 orders members by their UTF-16 names: actor, event_type, idx, origin, payload
    (batch, n), resource_id, resource_type, timestamp, v. What varies is integers, ASCII
    "item_<idx>" and the timestamp, none of which JSON escapes.
    """

    def fixed(value) -> bytes:
        return canonical_json(value).replace(b"%", b"%%")

    return b"".join(
        [
            b'{"actor":' + fixed(actor),
            b',"event_type":' + fixed(EVENT_TYPE),
            b',"idx":%d,"origin":' + fixed(origin),
            b',"payload":{"batch":%d,"n":%d},"resource_id":"item_%d"',
            b',"resource_type":' + fixed(RESOURCE_TYPE),
            b',"timestamp":"%b","v":' + fixed(MATERIAL_VERSION) + b"}",
        ]
    )


class _Timestamps:
    """(rfc3339 string, datetime) of EPOCH + idx ms; each second's prefix is formatted once."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def at(self, idx: int) -> tuple[str, dt.datetime]:
        second, millisecond = divmod(idx, 1000)
        if second != self._second:
            self._second = second
            # rfc3339 gives "YYYY-MM-DDTHH:MM:SS.ffffffZ"; keep what precedes ".ffffffZ".
            self._prefix = rfc3339(EPOCH + dt.timedelta(seconds=second))[:-8]
        moment = EPOCH + dt.timedelta(milliseconds=idx)
        return f"{self._prefix}.{millisecond * 1000:06d}Z", moment


def _public_id_prefix() -> str:
    """``aud_`` and 8 random characters. A 12-digit hex counter completes the 20 characters
    of tracklayer.ids (hex digits are in its alphabet): unique, and sequential for the btree."""
    return "aud_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))


def _copy_statement(model, columns: dict[str, str]) -> str:
    return f"COPY {model._meta.db_table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"


@contextmanager
def _foreign_keys_off(cursor, tables: list[str]):
    """Drop the tables' foreign keys, and add them back (validating every row) on the way out.

    PostgreSQL's advice for bulk loads ("Populating a Database": remove foreign key
    constraints). Both audit tables reference the workspace with a deferred key, whose check
    runs once per row at commit: 3 million checks for a million entries and their 2 million
    tree nodes, over a quarter of the load. Adding the key back checks all rows in one join.
    Only the tables' owner may do this; the bench database's owner is the bench's role. Inside
    the load's transaction, so a failed load leaves the keys as they were.
    """
    cursor.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE contype = 'f' AND conrelid = ANY(%s::regclass[])",
        [tables],
    )
    keys = cursor.fetchall()
    for table, name, _definition in keys:
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    yield
    for table, name, definition in keys:
        cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


def bulk_append(workspace, *, until: int, actor) -> int:
    """Append generated entries to ``workspace``'s log until it holds ``until`` entries.

    Returns how many were appended (0 if it already has that many).
    """
    with transaction.atomic(), connection.cursor() as cursor:
        head = AuditLogHead.objects.select_for_update().get(workspace=workspace)
        start = head.size
        if start >= until:
            return 0
        actor_name = actor_ref(actor)
        template = _material_template(head.origin, actor_name)
        timestamps = _Timestamps()
        id_prefix = _public_id_prefix()
        workspace_id = workspace.pk
        previous = None if head.head_hash is None else bytes(head.head_hash)
        frontier = head.frontier_hashes

        # cursor.cursor is the psycopg 3 cursor under Django's wrapper: it has copy(). One
        # connection runs one COPY at a time, so the entries and their tree nodes go in
        # alternate chunks (which also bounds the memory the nodes take).
        psycopg_cursor = cursor.cursor
        tables = [AuditEntry._meta.db_table, AuditMerkleNode._meta.db_table]
        with _foreign_keys_off(cursor, tables):
            for chunk_start in range(start, until, CHUNK):
                nodes: list[tuple[int, int, int, bytes]] = []
                with psycopg_cursor.copy(_copy_statement(AuditEntry, _ENTRY_COLUMNS)) as copy:
                    copy.set_types(list(_ENTRY_COLUMNS.values()))
                    for idx in range(chunk_start, min(chunk_start + CHUNK, until)):
                        timestamp, moment = timestamps.at(idx)
                        material = template % (idx, idx // 1000, idx, idx, timestamp.encode())
                        if idx % CROSS_CHECK_EVERY == 0:
                            reference = _material_object(head.origin, actor_name, idx, timestamp)
                            if material != canonical_json(reference):
                                raise AssertionError(f"bench material drifted at idx {idx}")
                        digest = entry_hash(previous, material)
                        copy.write_row(
                            (
                                workspace_id,
                                f"{id_prefix}{idx:012x}",
                                idx,
                                previous,
                                digest,
                                material,
                                EVENT_TYPE,
                                RESOURCE_TYPE,
                                f"item_{idx}",
                                actor_name,
                                moment,
                            )
                        )
                        frontier, completed = frontier_append(frontier, idx, leaf_hash(material))
                        nodes.extend((workspace_id, *node) for node in completed)
                        previous = digest
                with psycopg_cursor.copy(_copy_statement(AuditMerkleNode, _NODE_COLUMNS)) as copy:
                    copy.set_types(list(_NODE_COLUMNS.values()))
                    for node in nodes:
                        copy.write_row(node)

        AuditLogHead.objects.filter(pk=head.pk).update(
            size=until, head_hash=previous, frontier=b"".join(frontier)
        )
    return until - start
