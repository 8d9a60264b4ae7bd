"""Figure 60: erasing one data subject among 1M events (``python -m tests.bench requests``).

One EU workspace with ``BENCH_REQUEST_EVENTS`` (default 1,000,000) events of ~600 bytes, their
operational rows and de-duplication keys, one delivery and one attempt per 10 events; among
them 10 events of one subject — 4 matched only by the hashes of its e-mail in ``identifiers``,
3 only by its user id (``user_id_hash`` and ``identifiers``' ``external_id``, as ingestion stores
them), 3 only by ``anonymous_id`` — each with its operational row, message id, one delivery and
two attempts. Then ``dsr_create`` + ``dsr_run`` of a delete request,
in-process (no worker). The counts deleted must be what was planted, and nothing else may go.
Imported once Django is set up.
"""

import json
import os
import time

from django.db import connections

from privacy import pii
from privacy.requests import services as dsr_services
from privacy.requests import work
from tests.bench import seed
from tests.bench.report import Row
from tests.bench.seed import progress as _progress
from workspaces import services as workspace_services
from workspaces.actors import SystemActor
from workspaces.regions import region_db

ACTOR = SystemActor("bench")
EVENTS = int(os.environ.get("BENCH_REQUEST_EVENTS", "1000000"))
# The subject (made-up values; the request hashes them as the API would).
EMAIL = "ada.lovelace@example.org"
USER_ID = "bench-user-ada-1815"
ANONYMOUS_ID = "bench-anon-ada-1815"
BY_EMAIL, BY_USER_ID, BY_ANONYMOUS_ID = 4, 3, 3
PLANTED = {
    "events": BY_EMAIL + BY_USER_ID + BY_ANONYMOUS_ID,
    "operational": 10,
    "message_ids": 10,
    "deliveries": 10,
    "attempts": 20,
}
TABLES = {
    "events": "destinations_event",
    "operational": "destinations_eventoperational",
    "message_ids": "destinations_eventmessageid",
    "deliveries": "destinations_delivery",
    "attempts": "destinations_deliveryattempt",
}

DESCRIPTIONS = [
    f"60 erase one subject among {EVENTS:,} events of one EU workspace (~600 bytes each, with",
    "   operational rows and message ids, a delivery and an attempt per 10 events): the subject's",
    "   10 events (4 by e-mail hash in identifiers, 3 by user id, 3 by anonymous_id), each",
    "   with a delivery and two attempts; dsr_create + dsr_run of a delete request in-process:",
    f"   seconds, start to completed (batches of {work.BATCH_SIZE:,} events, each found through",
    "   the event store's indexes: destinations 0007, privacy.requests.matching.EVENTS_WHERE)",
]


def _seed_background(cursor, workspace_id: int) -> None:
    seed.seed_events(cursor, workspace_id, count=EVENTS)
    seed.seed_children(cursor, workspace_id)


def _plant_subject(cursor, workspace_id: int) -> None:
    """The subject's 10 events, spread through the workspace's ids (received among the
    others), each with its operational row, message id, a delivery and two attempts."""
    # As ingestion stores them: one hash per platform spec (envelope, pii.hashed_for_specs).
    emails = pii.hashed_for_specs("em", EMAIL)
    by_email = json.dumps({spec: {"em": digest} for spec, digest in emails.items()})
    user_ids = pii.hashed_for_specs("external_id", USER_ID)
    by_user_id = json.dumps({spec: {"external_id": digest} for spec, digest in user_ids.items()})
    user_id_hash = user_ids["meta"]
    planted = (
        [("'anon-x-' || n", "md5('other' || n) || md5('o' || n)", by_email)] * BY_EMAIL
        + [("'anon-y-' || n", "%(user_id_hash)s", by_user_id)] * BY_USER_ID
        + [("%(anonymous_id)s", "md5('other' || n) || md5('o' || n)", "{}")] * BY_ANONYMOUS_ID
    )
    for number, (anonymous_id, user_hash, identifiers) in enumerate(planted):
        cursor.execute(
            seed.EVENT_COLUMNS  # noqa: S608 - constants; values are parameters
            + f" SELECT %(ws)s, 'subject-msg-' || n, 'track', 'Order Completed', {anonymous_id},"
            f" {user_hash}, '', '', now() - interval '1 hour', now() - interval '1 hour',"
            + seed.PROPERTIES
            + seed.EVENT_TAIL
            + " FROM (SELECT %(n)s AS n) s RETURNING id",
            {
                "ws": workspace_id,
                "n": number,
                "identifiers": identifiers,
                "user_id_hash": user_id_hash,
                "anonymous_id": ANONYMOUS_ID,
            },
        )
    cursor.execute(
        "INSERT INTO destinations_eventoperational (event_id, workspace_id, ip, user_agent,"
        " received_at) SELECT id, workspace_id, '198.51.100.7'::inet, 'Mozilla/5.0',"
        " received_at FROM destinations_event"
        " WHERE workspace_id = %s AND message_id LIKE 'subject-msg-%%'",
        [workspace_id],
    )
    cursor.execute(
        "INSERT INTO destinations_eventmessageid (workspace_id, message_id, received_at)"
        " SELECT workspace_id, message_id, received_at FROM destinations_event"
        " WHERE workspace_id = %s AND message_id LIKE 'subject-msg-%%'",
        [workspace_id],
    )
    cursor.execute(
        "INSERT INTO destinations_delivery (workspace_id, destination_id, event_id, status,"
        " attempts, next_attempt_at, decision, last_error, dead_reason, created_at,"
        " updated_at) SELECT workspace_id, 1, id, 'dead', 2, received_at,"
        ' \'{"action": "deliver", "reasons": ["consented"]}\', \'HTTP 500\', \'max_attempts\','
        " received_at, received_at FROM destinations_event"
        " WHERE workspace_id = %s AND message_id LIKE 'subject-msg-%%'",
        [workspace_id],
    )
    cursor.execute(
        "INSERT INTO destinations_deliveryattempt (delivery_id, destination_id, request_id,"
        " started_at, latency_ms, status_code, outcome, error) SELECT d.id, d.destination_id,"
        " gen_random_uuid(), d.created_at, 120, 500, 'failed', 'HTTP 500'"
        " FROM destinations_delivery d JOIN destinations_event e ON e.id = d.event_id,"
        " generate_series(1, 2) AS attempt"
        " WHERE e.workspace_id = %s AND e.message_id LIKE 'subject-msg-%%'",
        [workspace_id],
    )


def _counts(workspace_id: int, alias: str) -> dict[str, int]:
    counts = {}
    with connections[alias].cursor() as cursor:
        for store, table in TABLES.items():
            where = (
                "delivery_id IN (SELECT id FROM destinations_delivery WHERE workspace_id = %s)"
                if store == "attempts"
                else "workspace_id = %s"
            )
            cursor.execute(f"SELECT count(*) FROM {table} WHERE {where}", [workspace_id])  # noqa: S608 - constants
            counts[store] = cursor.fetchone()[0]
    return counts


def rows() -> list[Row]:
    workspace = workspace_services.workspace_create(
        actor=ACTOR, owner=None, name="Bench requests", region="eu"
    )
    alias = region_db("eu")
    with connections[alias].cursor() as cursor:
        _seed_background(cursor, workspace.pk)
        background = _counts(workspace.pk, alias)
        _plant_subject(cursor, workspace.pk)
        cursor.execute("ANALYZE")
    before = _counts(workspace.pk, alias)
    planted = {store: before[store] - background[store] for store in TABLES}
    if planted != PLANTED:
        raise AssertionError(f"planted {planted}, meant {PLANTED}")
    _progress(f"seeded {sum(before.values()):,} rows; the subject's: {planted}")

    batches = [0]
    real_batch = work.delete_batch

    def counted_batch(*args, **kwargs):
        batches[0] += 1
        return real_batch(*args, **kwargs)

    work.delete_batch = counted_batch
    try:
        started = time.perf_counter()
        request = dsr_services.dsr_create(
            workspace=workspace,
            actor=ACTOR,
            type="delete",
            subject={"email": EMAIL, "user_id": USER_ID, "anonymous_id": ANONYMOUS_ID},
            enqueue=False,
        )
        status = dsr_services.dsr_run(request_id=request.public_id)
        elapsed = time.perf_counter() - started
    finally:
        work.delete_batch = real_batch
    request.refresh_from_db()
    after = _counts(workspace.pk, alias)
    if status != "completed" or request.counts != PLANTED:
        raise AssertionError(f"request {status}, counts {request.counts}, planted {PLANTED}")
    if after != background:
        raise AssertionError(f"left {after}, expected the background's {background}")

    return [
        Row(
            "60 erase one subject (delete)",
            f"{elapsed:.2f} s",
            check=(
                f"{before['events']:,} events, {batches[0]} batches (each through the"
                f" indexes); deleted {request.counts['events']} events,"
                f" {request.counts['operational']} operational, {request.counts['message_ids']}"
                f" message ids, {request.counts['deliveries']} deliveries,"
                f" {request.counts['attempts']} attempts = planted; the rest kept"
            ),
        ),
    ]
