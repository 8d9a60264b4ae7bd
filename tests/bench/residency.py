"""Figures 40-42: ``tracklayer workspace move-region`` throughput for 1M events (with their
operational rows and de-duplication keys), EU → US on the bench's region databases.
Imported once Django is set up; ``python -m tests.bench residency``."""

import os
import time

from django.db import connections

from destinations.residency import engine, services
from destinations.residency.tables import BY_NAME, TABLES
from tests.bench import seed
from tests.bench.report import Row
from tests.bench.seed import progress as _progress
from workspaces import services as workspace_services
from workspaces.actors import SystemActor
from workspaces.regions import region_db

ACTOR = SystemActor("bench")
EVENTS = int(os.environ.get("BENCH_MOVE_EVENTS", "1000000"))
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


def _seed(workspace_id: int, alias: str) -> None:
    with connections[alias].cursor() as cursor:
        seed.seed_events(cursor, workspace_id, count=EVENTS)
        seed.seed_children(cursor, workspace_id)
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
