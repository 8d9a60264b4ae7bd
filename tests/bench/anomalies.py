"""Figures 70-72: the anomaly detectors' run over 1,000 workspaces (``python -m tests.bench
anomalies``).

``BENCH_ANOMALY_WORKSPACES`` (default 1,000) EU workspaces, each with eight minute-figure
series — events received (one source), accepted (two event names), duplicates, and one
destination's delivered, failed, blocked and latency — over exactly the minutes a run reads:
the last 1½ hours and the same time of day on each of the previous 7 days (±15 minutes and
the evaluation windows), written by PostgreSQL itself. One workspace in 100 has a destination
whose every request failed in the last three minutes. The run is timed twice: the first opens
those anomalies (with their audit entries and incidents), the second is the steady state
every minute costs. Imported once Django is set up.
"""

import os
import time
from datetime import timedelta

from django.db import connections
from django.db.models import Count
from django.utils import timezone

from destinations.metrics.selectors import minute_number, minute_time
from monitoring.anomalies.detectors import baseline_windows
from monitoring.anomalies.models import Anomaly
from monitoring.anomalies.run import anomalies_detect_region
from tests.bench.report import Row
from tests.bench.seed import progress
from workspaces import services as workspace_services
from workspaces.actors import SystemActor
from workspaces.regions import region_db

ACTOR = SystemActor("bench")
WORKSPACES = int(os.environ.get("BENCH_ANOMALY_WORKSPACES", "1000"))
REGION = "eu"
FAILING_EVERY = 100

DESCRIPTIONS = [
    f"70 anomaly run over {WORKSPACES:,} EU workspaces' minute figures (8 series each, the",
    "   minutes a run reads: the last 1½ h and the same time on 7 previous days): the whole",
    "   run in steady state — read (one query for the region), detect, write",
    "71 the detectors alone (pure Python), per run and per workspace",
    "72 the first run: it learns every workspace's event names and, for 1 workspace in 100,",
    "   opens a destination down (with its incident) and a delivery error rate, all audited",
]

SERIES = """
    (VALUES ('events.received', 'key_bench', 40, 0),
            ('events.accepted', 'Product Viewed', 30, 0),
            ('events.accepted', 'Order Completed', 10, 0),
            ('events.duplicate', '', 1, 0),
            ('delivery.delivered', 'dst_bench', 36, 0),
            ('delivery.failed', 'dst_bench', 1, 0),
            ('delivery.blocked', 'dst_bench', 3, 0),
            ('delivery.latency_ms', 'dst_bench', 7200, 36)) AS s(kind, subject, base, cnt)
"""


def _seed(workspace_ids: list[int], at: int) -> int:
    minutes = sorted({m for first, last in baseline_windows(at) for m in range(first, last + 1)})
    starts = [minute_time(m) for m in minutes]
    with connections[region_db(REGION)].cursor() as cursor:
        cursor.execute(
            "INSERT INTO destinations_minutefigure (workspace_id, minute, kind, subject, value,"  # noqa: S608 - constants
            " count, buckets)"
            " SELECT w, m, s.kind, s.subject,"
            "  greatest(0, s.base + round((random() - 0.5) * 2 * sqrt(s.base + 1)))::bigint,"
            "  s.cnt, NULL"
            " FROM unnest(%(ws)s::bigint[]) w, unnest(%(minutes)s::timestamptz[]) m," + SERIES,
            {"ws": workspace_ids, "minutes": starts},
        )
        rows = cursor.rowcount
        # One workspace in 100: its destination failed every request in the last 3 minutes.
        failing = workspace_ids[::FAILING_EVERY]
        recent = [minute_time(at - k) for k in range(3)]
        cursor.execute(
            "UPDATE destinations_minutefigure SET value = CASE kind WHEN 'delivery.failed'"
            " THEN 12 ELSE 0 END WHERE workspace_id = ANY(%(ws)s) AND minute = ANY(%(m)s)"
            " AND kind IN ('delivery.delivered', 'delivery.failed')",
            {"ws": failing, "m": recent},
        )
        cursor.execute("ANALYZE destinations_minutefigure")
    return rows


def rows() -> list[Row]:
    progress(f"creating {WORKSPACES:,} workspaces")
    ids = [
        workspace_services.workspace_create(
            actor=ACTOR, owner=None, name=f"Bench anomalies {n}", region=REGION
        ).pk
        for n in range(WORKSPACES)
    ]
    now = timezone.now().replace(second=5, microsecond=0) + timedelta(minutes=1)
    at = minute_number(now)
    started = time.perf_counter()
    seeded = _seed(ids, at)
    progress(f"seeded {seeded:,} minute figures in {time.perf_counter() - started:.0f} s")

    started = time.perf_counter()
    first = anomalies_detect_region(region=REGION, now=now)
    first_seconds = time.perf_counter() - started
    started = time.perf_counter()
    steady = anomalies_detect_region(region=REGION, now=now)
    steady_seconds = time.perf_counter() - started
    expected = len(ids[::FAILING_EVERY])
    opened = dict(
        Anomaly.objects.values_list("kind").annotate(n=Count("pk")).values_list("kind", "n")
    )

    return [
        Row(
            "70 anomaly run, steady state",
            f"{steady_seconds:,.2f} s",
            check=(
                f"{steady.workspaces:,} workspaces, {seeded:,} figures; read "
                f"{steady.read_seconds:.2f} s, detect {steady.detect_seconds:.2f} s, write "
                f"{steady.apply_seconds:.2f} s; {steady.updated} updated, "
                f"{steady.opened} opened, {len(steady.failed)} failed"
            ),
        ),
        Row(
            "71 detectors alone",
            f"{steady.detect_seconds:,.2f} s",
            check=f"{steady.detect_seconds / max(steady.workspaces, 1) * 1000:.2f} ms a workspace",
        ),
        Row(
            "72 first run (opens anomalies)",
            f"{first_seconds:,.2f} s",
            check=(
                f"destination down {opened.get('destination_down', 0)} of {expected} planted"
                + ("" if opened.get("destination_down") == expected else " — MISMATCH")
                + f"; {first.opened} opened in all, {len(first.failed)} failed"
            ),
        ),
    ]
