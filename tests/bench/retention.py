"""Figures 50-52: the retention purge's throughput (``python -m tests.bench retention``).

One EU workspace with ``BENCH_PURGE_EVENTS`` (default 200,000) events received 200 days ago —
past the default 180-day window — with their operational rows and de-duplication keys, one
delivery and one attempt per 10 events; and as many events received an hour ago, which the
purge must leave (the check says whether it did). Imported once Django is set up.
"""

import os
import sys
import time

from django.db import connections

from destinations.retention import purge
from tests.bench.report import Row
from workspaces import services as workspace_services
from workspaces.actors import SystemActor
from workspaces.regions import region_db

ACTOR = SystemActor("bench")
EVENTS = int(os.environ.get("BENCH_PURGE_EVENTS", "200000"))
SEED_CHUNK = 100_000
TABLES = (
    "destinations_event",
    "destinations_eventoperational",
    "destinations_eventmessageid",
    "destinations_delivery",
    "destinations_deliveryattempt",
)
ATTEMPTS_OF = "delivery_id IN (SELECT id FROM destinations_delivery WHERE workspace_id = %s)"

DESCRIPTIONS = [
    f"50 retention purge of one EU workspace: {EVENTS:,} expired events (~600 bytes) with their",
    "   operational rows and message ids, a delivery and an attempt per 10 events, beside as",
    f"   many fresh ones; batches of {purge.BATCH_ROWS:,} rows, each its own transactions: rows",
    "   deleted per second over all tables, start to done (p50/p99: one batch, locks included)",
    "51 the events step alone (events with their children): events deleted per second",
    "52 a purge with nothing left to delete, the tables vacuumed since the last (what every",
    "   hourly run costs a quiet workspace)",
]


def _progress(message: str) -> None:
    print(f"... {message}", file=sys.stderr, flush=True)


def _seed(workspace_id: int, alias: str, age: str, offset: int) -> None:
    with connections[alias].cursor() as cursor:
        for start in range(offset, offset + EVENTS, SEED_CHUNK):
            stop = min(start + SEED_CHUNK, offset + EVENTS)
            cursor.execute(
                "INSERT INTO destinations_event (workspace_id, message_id, type, name,"
                " anonymous_id, user_id_hash, group_id_hash, previous_id_hash, timestamp,"
                " received_at, properties, traits, context, integrations, identifiers, consent,"
                " validation, status, source, fanout_pending)"
                " SELECT %(ws)s, 'msg-' || n, 'track', 'Order Completed', 'anon-' || (n %% 50000),"
                " md5('user' || n) || md5('u' || n), '', '', now() - %(age)s::interval,"
                " now() - %(age)s::interval,"
                " jsonb_build_object('order_id', 'o-' || n, 'total', n %% 997 + 0.5,"
                "   'currency', 'EUR', 'products', jsonb_build_array(jsonb_build_object("
                "   'sku', 'sku-' || (n %% 300), 'price', 19.9, 'quantity', 1))),"
                " '{}', jsonb_build_object('library', jsonb_build_object('name', 'analytics.js',"
                "   'version', '5.2.0'), 'page', jsonb_build_object('url',"
                "   'https://shop.example/checkout/' || n, 'referrer', 'https://search.example/')),"
                " '{}', jsonb_build_object('meta_capi', jsonb_build_object('em',"
                "   md5('e' || n) || md5('m' || n))),"
                ' \'{"gpc": false, "consentMode": {"ad_storage": "granted"}}\','
                ' \'{"hashed": ["traits.email"], "removed": [], "warnings": []}\','
                " 'ok', 'native', false"
                " FROM generate_series(%(start)s, %(stop)s - 1) n",
                {"ws": workspace_id, "start": start, "stop": stop, "age": age},
            )
            _progress(f"seeded {stop - offset:,} of {EVENTS:,} events ({age} old)")
        where = "workspace_id = %s AND received_at < now() - %s::interval + interval '1 minute'"
        params = [workspace_id, age]
        cursor.execute(
            "INSERT INTO destinations_eventoperational (event_id, workspace_id, ip, user_agent,"  # noqa: S608 - constants
            " received_at) SELECT id, workspace_id, ('203.0.113.' || (id %% 250))::inet,"
            " 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15', received_at"
            f" FROM destinations_event WHERE {where}",
            params,
        )
        cursor.execute(
            "INSERT INTO destinations_eventmessageid (workspace_id, message_id, received_at)"  # noqa: S608 - constants
            f" SELECT workspace_id, message_id, received_at FROM destinations_event WHERE {where}",
            params,
        )
        cursor.execute(
            "INSERT INTO destinations_delivery (workspace_id, destination_id, event_id, status,"  # noqa: S608 - constants
            " attempts, next_attempt_at, decision, last_error, dead_reason, created_at,"
            " updated_at) SELECT workspace_id, 1, id, 'delivered', 1, received_at,"
            ' \'{"action": "deliver", "reasons": ["consented"]}\', \'\', \'\', received_at,'
            f" received_at FROM destinations_event WHERE {where} AND id %% 10 = 0",
            params,
        )
        cursor.execute(
            "INSERT INTO destinations_deliveryattempt (delivery_id, destination_id, request_id,"
            " started_at, latency_ms, status_code, outcome, error) SELECT id, destination_id,"
            " gen_random_uuid(), created_at, 120, 200, 'delivered', '' FROM"
            " destinations_delivery WHERE workspace_id = %s AND created_at < now() - %s::interval"
            " + interval '1 minute'",
            params,
        )
        cursor.execute("ANALYZE")


def _counts(workspace_id: int, alias: str) -> dict[str, int]:
    counts = {}
    with connections[alias].cursor() as cursor:
        for table in TABLES:
            column = "delivery_id IN (SELECT id FROM destinations_delivery WHERE workspace_id"
            where = (
                f"{column} = %s)"
                if table == "destinations_deliveryattempt"
                else "workspace_id = %s"
            )
            cursor.execute(f"SELECT count(*) FROM {table} WHERE {where}", [workspace_id])  # noqa: S608 - constants
            counts[table] = cursor.fetchone()[0]
    return counts


def rows() -> list[Row]:
    workspace = workspace_services.workspace_create(
        actor=ACTOR, owner=None, name="Bench retention", region="eu"
    )
    alias = region_db("eu")
    _seed(workspace.pk, alias, "1 hour", offset=0)
    fresh = _counts(workspace.pk, alias)
    _seed(workspace.pk, alias, "200 days", offset=EVENTS)
    before = _counts(workspace.pk, alias)
    expired = sum(before.values()) - sum(fresh.values())
    _progress(f"seeded; {expired:,} rows expired, {sum(fresh.values()):,} fresh")

    batch_seconds: list[float] = []
    event_seconds = [0.0]
    events_deleted = [0]
    real_batch = purge._batch

    def timed_batch(workspace_id, step, now, limit):
        started = time.perf_counter()
        counts = real_batch(workspace_id, step, now, limit)
        elapsed = time.perf_counter() - started
        batch_seconds.append(elapsed)
        if counts and "events" in counts:
            event_seconds[0] += elapsed
            events_deleted[0] += counts["events"]
        if len(batch_seconds) % 100 == 0:
            _progress(f"{len(batch_seconds):,} batches")
        return counts

    purge._batch = timed_batch
    try:
        started = time.perf_counter()
        result = purge.retention_purge(workspace=workspace, actor=ACTOR)
        elapsed = time.perf_counter() - started
    finally:
        purge._batch = real_batch
    after = _counts(workspace.pk, alias)
    deleted = sum(result.purged.values())

    # Right after the purge its dead rows are still in the indexes until autovacuum: vacuum
    # first, as the next hourly run would find them.
    with connections[alias].cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"VACUUM ANALYZE {table}")
    started = time.perf_counter()
    purge.retention_purge(workspace=workspace, actor=ACTOR)
    idle = time.perf_counter() - started

    return [
        Row.with_latencies(
            "50 purge, all tables",
            f"{deleted / elapsed:,.0f} rows/s",
            batch_seconds,
            check=(
                f"{deleted:,} of {expired:,} expired rows in {elapsed:.1f} s, "
                f"{result.batches:,} batches; fresh rows "
                f"{'kept' if after == fresh else 'CHANGED'}"
            ),
        ),
        Row(
            "51 purge, events step",
            f"{events_deleted[0] / event_seconds[0] if event_seconds[0] else 0:,.0f} events/s",
            check=f"{events_deleted[0]:,} events with their children",
        ),
        Row(
            "52 purge, nothing to delete",
            f"{idle * 1000:,.1f} ms",
            check="one batch per step, and the record",
        ),
    ]
