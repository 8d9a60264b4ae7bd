"""Figures 50-52: the retention purge's throughput (``python -m tests.bench retention``).

One EU workspace with ``BENCH_PURGE_EVENTS`` (default 200,000) events received 200 days ago —
past the default 180-day window — with their operational rows and de-duplication keys, one
delivery and one attempt per 10 events; and as many events received an hour ago, which the
purge must leave (the check says whether it did). Imported once Django is set up.
"""

import os
import time

from django.db import connections

from destinations.retention import purge
from tests.bench import seed
from tests.bench.report import Row
from tests.bench.seed import progress as _progress
from workspaces import services as workspace_services
from workspaces.actors import SystemActor
from workspaces.regions import region_db

ACTOR = SystemActor("bench")
EVENTS = int(os.environ.get("BENCH_PURGE_EVENTS", "200000"))
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


def _seed(workspace_id: int, alias: str, age: str, offset: int) -> None:
    with connections[alias].cursor() as cursor:
        seed.seed_events(cursor, workspace_id, count=EVENTS, age=age, offset=offset)
        seed.seed_children(cursor, workspace_id, age=age)
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
