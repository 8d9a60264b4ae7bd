"""Figures 40-42: ``tracklayer workspace move-region`` throughput for 1M events (with their
operational rows and de-duplication keys), EU → US on the bench's region databases.
Imported once Django is set up; ``python -m tests.bench residency``."""

import os
import sys
import time

from django.db import connections

from destinations.residency import engine, services
from destinations.residency.tables import BY_NAME, TABLES
from tests.bench.report import Row
from workspaces import services as workspace_services
from workspaces.actors import SystemActor
from workspaces.regions import region_db

ACTOR = SystemActor("bench")
EVENTS = int(os.environ.get("BENCH_MOVE_EVENTS", "1000000"))
SEED_CHUNK = 100_000
BATCH_SIZE = services.BATCH_SIZE

DESCRIPTIONS = [
    f"40 move-region of one workspace, EU → US: {EVENTS:,} events of ~600 bytes (properties,",
    "   context, consent, identifiers), their operational rows and message ids, one delivery and",
    f"   attempt per 10 events; COPY in binary, batches of {BATCH_SIZE:,} rows, one target",
    "   transaction each; per table: rows copied per second (the copy only)",
    "41 verification per table: count + checksum over the workspace's rows, both databases",
    "42 the whole move (quiesce without the cache wait, copy, verify, switch, delete the",
    "   source's rows): rows of all tables per second, start to done",
]


def _progress(message: str) -> None:
    print(f"... {message}", file=sys.stderr, flush=True)


def _seed(workspace_id: int, alias: str) -> None:
    with connections[alias].cursor() as cursor:
        for start in range(0, EVENTS, SEED_CHUNK):
            stop = min(start + SEED_CHUNK, EVENTS)
            cursor.execute(
                "INSERT INTO destinations_event (workspace_id, message_id, type, name,"
                " anonymous_id, user_id_hash, group_id_hash, previous_id_hash, timestamp,"
                " received_at, properties, traits, context, integrations, identifiers, consent,"
                " validation, status, source, fanout_pending)"
                " SELECT %(ws)s, 'msg-' || n, 'track', 'Order Completed', 'anon-' || (n %% 50000),"
                " md5('user' || n) || md5('u' || n), '', '', now() - interval '1 hour',"
                " now() - interval '1 hour',"
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
                {"ws": workspace_id, "start": start, "stop": stop},
            )
            _progress(f"seeded {stop:,} of {EVENTS:,} events")
        cursor.execute(
            "INSERT INTO destinations_eventoperational (event_id, workspace_id, ip, user_agent,"
            " received_at) SELECT id, workspace_id, ('203.0.113.' || (id %% 250))::inet,"
            " 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15', received_at"
            " FROM destinations_event WHERE workspace_id = %s",
            [workspace_id],
        )
        cursor.execute(
            "INSERT INTO destinations_eventmessageid (workspace_id, message_id, received_at)"
            " SELECT workspace_id, message_id, received_at FROM destinations_event"
            " WHERE workspace_id = %s",
            [workspace_id],
        )
        cursor.execute(
            "INSERT INTO destinations_delivery (workspace_id, destination_id, event_id, status,"
            " attempts, next_attempt_at, decision, last_error, dead_reason, created_at,"
            " updated_at) SELECT workspace_id, 1, id, 'delivered', 1, received_at,"
            ' \'{"action": "deliver", "reasons": ["consented"]}\', \'\', \'\', received_at,'
            " received_at FROM destinations_event WHERE workspace_id = %s AND id %% 10 = 0",
            [workspace_id],
        )
        cursor.execute(
            "INSERT INTO destinations_deliveryattempt (delivery_id, destination_id, request_id,"
            " started_at, latency_ms, status_code, outcome, error) SELECT id, destination_id,"
            " gen_random_uuid(), created_at, 120, 200, 'delivered', '' FROM"
            " destinations_delivery WHERE workspace_id = %s",
            [workspace_id],
        )
        cursor.execute("ANALYZE")
    _progress("seeded operational rows, message ids, deliveries and attempts")


def rows() -> list[Row]:
    workspace = workspace_services.workspace_create(
        actor=ACTOR, owner=None, name="Bench move", region="eu"
    )
    _seed(workspace.pk, region_db("eu"))
    counts = {spec.table: engine.count_rows(spec, region_db("eu"), workspace.pk) for spec in TABLES}
    total = sum(counts.values())

    copy_rates: dict[str, tuple[int, float]] = {}

    def progress(table: str, copied: int, rate: float) -> None:
        copy_rates[table] = (copied, rate)
        if copied % (BATCH_SIZE * 20) == 0:
            _progress(f"{table}: {copied:,} rows copied, {rate:,.0f} rows/s")

    verify_seconds: dict[str, float] = {}
    figures = engine.figures

    def timed_figures(spec, alias, workspace_id):
        started = time.perf_counter()
        result = figures(spec, alias, workspace_id)
        verify_seconds[spec.table] = verify_seconds.get(spec.table, 0.0) + (
            time.perf_counter() - started
        )
        return result

    # Nothing else caches the bench's workspace: no wait for other processes' runtime caches.
    services.QUIESCE_SECONDS, engine.figures = 0, timed_figures
    try:
        started = time.perf_counter()
        move = services.region_move(
            workspace=workspace, actor=ACTOR, target="us", progress=progress
        )
        elapsed = time.perf_counter() - started
    finally:
        engine.figures = figures

    target_counts = {
        spec.table: engine.count_rows(spec, region_db("us"), workspace.pk) for spec in TABLES
    }
    agree = all(
        move.tables[spec.table]
        == figures(BY_NAME[spec.table], region_db("us"), workspace.pk).as_dict()
        for spec in TABLES
    )
    result = []
    for spec in TABLES:
        copied, rate = copy_rates.get(spec.table, (0, 0.0))
        result.append(
            Row(
                f"40 copy {spec.table}",
                f"{rate:,.0f} rows/s",
                check=f"{copied:,} of {counts[spec.table]:,} rows",
            )
        )
    for spec in TABLES:
        seconds = verify_seconds.get(spec.table, 0.0)
        result.append(
            Row(
                f"41 verify {spec.table}",
                f"{counts[spec.table] * 2 / seconds if seconds else 0:,.0f} rows/s",
                check=f"{seconds:.2f} s, both sides",
            )
        )
    result.append(
        Row(
            "42 whole move, all tables",
            f"{total / elapsed:,.0f} rows/s",
            check=(
                f"{total:,} rows in {elapsed:.1f} s; {move.state}; target counts "
                f"{'equal' if target_counts == counts else 'DIFFER'}, checksums "
                f"{'equal' if agree else 'DIFFER'}"
            ),
        )
    )
    return result
