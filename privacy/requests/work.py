"""The per-region work of a data-subject request: batched, resumable, in raw SQL on the
workspace's region database (``connections[workspace_db(ws)]``).

Privacy sits below destinations in the import layers (pyproject's import-linter contract), so
this module names the event store's tables instead of importing its models; the tables are
the data plane's (docs/regions.md). Children go first: attempts, deliveries (dead letters
are deliveries), operational rows, de-duplication keys, then the events.

Resuming: each batch is one region transaction that deletes its rows and adds its counts to
``privacy_requestprogress`` — the counts and the deletion commit together, so a request run
again after a crash continues where it stopped and its counts stay exact.
"""

from __future__ import annotations

import json

from django.db import connections, transaction

from privacy.requests.forwarding import NoticeSubject
from privacy.requests.matching import EVENTS_WHERE, SubjectHashes
from workspaces.regions import data_atomic, workspace_db

STORES = ("events", "operational", "message_ids", "deliveries", "attempts")
BATCH_SIZE = 5_000  # events per region transaction (each batch is one scan of the workspace)
EXPORT_MAX_EVENTS = 10_000


def _cursor(workspace):
    return connections[workspace_db(workspace)].cursor()


# The working data's other kinds (never matched on: EVENTS_WHERE names its kinds):
# "n<subject index>.<code>" — a subject's hashes kept together for the forwarding notice of a
# delete (the match kinds above are one flat set); "f<key>" — what a forwarder keeps to send
# later (``forward_ids_place``), e.g. the GA4 client ids read before the events are deleted.
NOTICE_CODES = {"email": "em", "phone": "ph", "user_id": "uid", "anonymous_id": "aid"}
FORWARD_PREFIX = "f"


def subjects_place(
    workspace, request_id: str, subjects: list[SubjectHashes], *, notice: bool = False
) -> None:
    """The request's match hashes into the region's working data (idempotent); with
    ``notice``, each subject's hashes again under its own index, for the forwarding notice."""
    rows = {
        (kind, digest)
        for subject in subjects
        for kind, digests in subject.store.items()
        for digest in digests
    }
    if notice:
        rows |= {
            (f"n{index}.{code}", digest)
            for index, subject in enumerate(subjects)
            for kind, code in NOTICE_CODES.items()
            for digest in subject.store.get(kind, ())
        }
    _insert(workspace, request_id, sorted(rows))


def _insert(workspace, request_id: str, rows: list[tuple[str, str]]) -> None:
    with data_atomic(workspace), _cursor(workspace) as cursor:
        for start in range(0, len(rows), 1000):
            chunk = rows[start : start + 1000]
            cursor.executemany(
                "INSERT INTO privacy_requestsubject (workspace_id, request_id, kind, hash) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                [(workspace.pk, request_id, kind, digest) for kind, digest in chunk],
            )


def notice_subjects(workspace, request_id: str) -> tuple[NoticeSubject, ...]:
    """The subjects of a delete as its forwarding notice carries them, in request order."""
    with _cursor(workspace) as cursor:
        cursor.execute(
            "SELECT kind, hash FROM privacy_requestsubject"
            " WHERE workspace_id = %s AND request_id = %s AND kind LIKE 'n%%.%%'",
            [workspace.pk, request_id],
        )
        rows = cursor.fetchall()
    found: dict[int, dict[str, list[str]]] = {}
    for kind, digest in rows:
        index, _, code = kind[1:].partition(".")
        if index.isdigit():
            found.setdefault(int(index), {}).setdefault(code, []).append(digest)
    subjects = []
    for index in sorted(found):
        codes = found[index]
        subjects.append(
            NoticeSubject(
                email_sha256=tuple(sorted(codes.get("em", ()))),
                phone_sha256=tuple(sorted(codes.get("ph", ()))),
                user_id_sha256=min(codes["uid"]) if codes.get("uid") else None,
                anonymous_id_sha256=min(codes["aid"]) if codes.get("aid") else None,
            )
        )
    return tuple(subjects)


def forward_ids_place(workspace, request_id: str, key: str, values) -> None:
    """Keep ``values`` (at most 64 characters each) under ``key`` until ``forward_ids_done``."""
    _insert(
        workspace, request_id, sorted({(FORWARD_PREFIX + key, v) for v in values if len(v) <= 64})
    )


def forward_ids(workspace, request_id: str, key: str) -> list[str]:
    with _cursor(workspace) as cursor:
        cursor.execute(
            "SELECT hash FROM privacy_requestsubject"
            " WHERE workspace_id = %s AND request_id = %s AND kind = %s ORDER BY hash",
            [workspace.pk, request_id, FORWARD_PREFIX + key],
        )
        return [row[0] for row in cursor.fetchall()]


def forward_ids_done(workspace, request_id: str, key: str, values) -> None:
    with data_atomic(workspace), _cursor(workspace) as cursor:
        cursor.execute(
            "DELETE FROM privacy_requestsubject"
            " WHERE workspace_id = %s AND request_id = %s AND kind = %s AND hash = ANY(%s)",
            [workspace.pk, request_id, FORWARD_PREFIX + key, list(values)],
        )


def matched_deliveries(workspace, request_id: str, destination_ids) -> list[dict]:
    """The request's events that were sent (or tried) to ``destination_ids``, with what the
    delivery engine built their requests from: the forwarder recomputes the identifiers a
    platform received with the adapter's own functions."""
    with _cursor(workspace) as cursor:
        cursor.execute(
            " ".join(
                [
                    "SELECT d.id, d.destination_id, d.decision, e.message_id, e.type, e.name,",
                    "e.anonymous_id, e.timestamp, e.properties, e.context, e.identifiers,",
                    "e.consent FROM destinations_delivery d",
                    "JOIN destinations_event e ON e.id = d.event_id WHERE",
                    EVENTS_WHERE,
                    "AND d.destination_id = ANY(%(destinations)s)",
                    "AND (d.attempts > 0 OR d.status = 'delivered') ORDER BY d.id",
                ]
            ),
            _params(workspace, request_id, destinations=list(destination_ids)),
        )
        rows = cursor.fetchall()
    names = ("delivery_id", "destination_id", "decision", "message_id", "type", "name")
    names += ("anonymous_id", "timestamp", "properties", "context", "identifiers", "consent")
    found = []
    for row in rows:
        item = dict(zip(names, row, strict=True))
        for json_field in ("decision", "properties", "context", "identifiers", "consent"):
            item[json_field] = _json(item[json_field]) or {}
        found.append(item)
    return found


def subjects_present(workspace, request_id: str) -> bool:
    """Whether the region holds the request's match hashes (it does from creation until a
    delete completes; a region move does not carry them)."""
    with _cursor(workspace) as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM privacy_requestsubject"
            " WHERE workspace_id = %s AND request_id = %s)",
            [workspace.pk, request_id],
        )
        return bool(cursor.fetchone()[0])


def subjects_forget(workspace, request_id: str) -> None:
    with data_atomic(workspace), _cursor(workspace) as cursor:
        cursor.execute(
            "DELETE FROM privacy_requestsubject WHERE workspace_id = %s AND request_id = %s",
            [workspace.pk, request_id],
        )


def progress(workspace, request_id: str) -> dict[str, int]:
    with _cursor(workspace) as cursor:
        cursor.execute(
            "SELECT store, count FROM privacy_requestprogress"
            " WHERE workspace_id = %s AND request_id = %s",
            [workspace.pk, request_id],
        )
        found = dict(cursor.fetchall())
    return {store: int(found.get(store, 0)) for store in STORES}


def progress_forget(workspace, request_id: str) -> None:
    with data_atomic(workspace), _cursor(workspace) as cursor:
        cursor.execute(
            "DELETE FROM privacy_requestprogress WHERE workspace_id = %s AND request_id = %s",
            [workspace.pk, request_id],
        )


def requests_forget(alias: str, workspace_id: int, request_ids: list[str]) -> int:
    """Every working row of these requests of the workspace in the region database ``alias``
    (expired access requests; a purged workspace's, in each region: a region move leaves them
    behind); one statement per table, through the primary key. Returns how many of the
    requests had working rows there."""
    forgotten: set[str] = set()
    with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
        for table in ("privacy_requestsubject", "privacy_requestprogress"):
            cursor.execute(
                f"DELETE FROM {table} WHERE request_id = ANY(%s) AND workspace_id = %s"  # noqa: S608 - a constant table name
                " RETURNING request_id",
                [request_ids, workspace_id],
            )
            forgotten.update(row[0] for row in cursor.fetchall())
    return len(forgotten)


def _params(workspace, request_id: str, **extra) -> dict:
    return {"workspace": workspace.pk, "request": request_id, **extra}


def matches_count(workspace, request_id: str) -> dict[str, int]:
    """What an access request reports: the subject's rows per store (nothing changes)."""
    with _cursor(workspace) as cursor:
        cursor.execute(
            f"""
            WITH m AS (SELECT e.id, e.message_id FROM destinations_event e WHERE {EVENTS_WHERE})
            SELECT
                (SELECT count(*) FROM m),
                (SELECT count(*) FROM destinations_eventoperational o
                    WHERE o.event_id IN (SELECT id FROM m)),
                (SELECT count(*) FROM destinations_eventmessageid k
                    WHERE k.workspace_id = %(workspace)s
                    AND k.message_id IN (SELECT message_id FROM m)),
                (SELECT count(*) FROM destinations_delivery d
                    WHERE d.event_id IN (SELECT id FROM m)),
                (SELECT count(*) FROM destinations_deliveryattempt a
                    JOIN destinations_delivery d ON d.id = a.delivery_id
                    WHERE d.event_id IN (SELECT id FROM m))
            """,  # noqa: S608 - EVENTS_WHERE is a constant; values are parameters
            _params(workspace, request_id),
        )
        row = cursor.fetchone()
    return dict(zip(STORES, (int(n) for n in row), strict=True))


def delete_batch(workspace, request_id: str, *, batch_size: int = BATCH_SIZE) -> int:
    """Delete the next ``batch_size`` matched events and everything hanging on them, in one
    region transaction that also adds the counts to the request's progress. Returns the
    number of events deleted (0: nothing left)."""
    with data_atomic(workspace), _cursor(workspace) as cursor:
        cursor.execute(
            " ".join(
                [
                    "SELECT e.id, e.message_id FROM destinations_event e WHERE",
                    EVENTS_WHERE,
                    "ORDER BY e.id LIMIT %(limit)s FOR UPDATE",
                ]
            ),
            _params(workspace, request_id, limit=batch_size),
        )
        found = cursor.fetchall()
        if not found:
            return 0
        ids = [row[0] for row in found]
        message_ids = [row[1] for row in found]
        counts = {}
        cursor.execute(
            "DELETE FROM destinations_deliveryattempt WHERE delivery_id IN "
            "(SELECT id FROM destinations_delivery WHERE event_id = ANY(%s))",
            [ids],
        )
        counts["attempts"] = cursor.rowcount
        cursor.execute("DELETE FROM destinations_delivery WHERE event_id = ANY(%s)", [ids])
        counts["deliveries"] = cursor.rowcount
        cursor.execute("DELETE FROM destinations_eventoperational WHERE event_id = ANY(%s)", [ids])
        counts["operational"] = cursor.rowcount
        cursor.execute(
            "DELETE FROM destinations_eventmessageid "
            "WHERE workspace_id = %s AND message_id = ANY(%s)",
            [workspace.pk, message_ids],
        )
        counts["message_ids"] = cursor.rowcount
        cursor.execute("DELETE FROM destinations_event WHERE id = ANY(%s)", [ids])
        counts["events"] = cursor.rowcount
        cursor.executemany(
            "INSERT INTO privacy_requestprogress (workspace_id, request_id, store, count) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (request_id, store) "
            "DO UPDATE SET count = privacy_requestprogress.count + EXCLUDED.count",
            [(workspace.pk, request_id, store, n) for store, n in counts.items()],
        )
    return len(ids)


def _json(value):
    # Django reads jsonb as text for its JSONField; raw SQL gets that text.
    return json.loads(value) if isinstance(value, str | bytes) else value


def _iso(value):
    return value.isoformat() if value is not None else None


def export(workspace, request_id: str, destination_names: dict[int, dict]) -> dict:
    """Everything the region holds about an access request's subjects, read now: events (as
    stored: identifiers are hashes), their operational data, consent signals, deliveries and
    their attempts. At most ``EXPORT_MAX_EVENTS`` events (``truncated`` says so)."""
    with _cursor(workspace) as cursor:
        cursor.execute(
            " ".join(
                [
                    "SELECT e.id, e.message_id, e.type, e.name, e.anonymous_id, e.user_id_hash,",
                    "e.previous_id_hash, e.timestamp, e.received_at, e.properties, e.traits,",
                    "e.context, e.identifiers, e.consent, o.ip, o.user_agent",
                    "FROM destinations_event e",
                    "LEFT JOIN destinations_eventoperational o ON o.event_id = e.id WHERE",
                    EVENTS_WHERE,
                    "ORDER BY e.id LIMIT %(limit)s",
                ]
            ),
            _params(workspace, request_id, limit=EXPORT_MAX_EVENTS + 1),
        )
        rows = cursor.fetchall()
        truncated = len(rows) > EXPORT_MAX_EVENTS
        rows = rows[:EXPORT_MAX_EVENTS]
        ids = [row[0] for row in rows]
        cursor.execute(
            "SELECT d.id, d.event_id, d.destination_id, d.status, d.attempts, d.dead_reason, "
            "d.created_at, d.delivered_at FROM destinations_delivery d "
            "WHERE d.event_id = ANY(%s) ORDER BY d.id",
            [ids],
        )
        deliveries = cursor.fetchall()
        cursor.execute(
            "SELECT a.delivery_id, a.started_at, a.status_code, a.outcome, a.error "
            "FROM destinations_deliveryattempt a WHERE a.delivery_id = ANY(%s) "
            "ORDER BY a.started_at",
            [[row[0] for row in deliveries]],
        )
        attempts = cursor.fetchall()
    attempts_of: dict[int, list] = {}
    for delivery_id, started_at, status_code, outcome, error in attempts:
        attempts_of.setdefault(delivery_id, []).append(
            {
                "started_at": _iso(started_at),
                "status_code": status_code,
                "outcome": outcome,
                "error": error,
            }
        )
    deliveries_of: dict[int, list] = {}
    for pk, event_id, destination_id, status, count, dead_reason, created, delivered in deliveries:
        deliveries_of.setdefault(event_id, []).append(
            {
                "destination": destination_names.get(destination_id, {}),
                "status": status,
                "attempts": count,
                "dead_reason": dead_reason,
                "created_at": _iso(created),
                "delivered_at": _iso(delivered),
                "attempt_log": attempts_of.get(pk, []),
            }
        )
    events = []
    for row in rows:
        (pk, message_id, kind, name, anonymous_id, user_id_hash, previous_id_hash) = row[:7]
        (timestamp, received_at, properties, traits, context, identifiers, consent) = row[7:14]
        ip, user_agent = row[14:16]
        events.append(
            {
                "message_id": message_id,
                "type": kind,
                "name": name,
                "anonymous_id": anonymous_id,
                "user_id_hash": user_id_hash,
                "previous_id_hash": previous_id_hash,
                "timestamp": _iso(timestamp),
                "received_at": _iso(received_at),
                "properties": _json(properties),
                "traits": _json(traits),
                "context": _json(context),
                "identifiers": _json(identifiers),
                "consent": _json(consent),
                "operational": {"ip": ip, "user_agent": user_agent or ""}
                if ip is not None or user_agent
                else None,
                "deliveries": deliveries_of.get(pk, []),
            }
        )
    return {"events": events, "truncated": truncated}
