"""Figures 70-72: the anomaly detectors' run over 1,000 workspaces (``python -m tests.bench
anomalies``).

``BENCH_ANOMALY_WORKSPACES`` (default 1,000) EU workspaces, each with eight minute-figure
series — events received (one source), accepted (two event names), duplicates, and one
destination's delivered, failed, blocked and latency — over exactly the minutes a run reads:
the last 1½ hours and the same time of day on each of the previous 7 days (±15 minutes and
the evaluation windows), written by PostgreSQL itself. One workspace in 100 has a destination
whose every request failed in the last three minutes. Each workspace also stored
``BENCH_ANOMALY_EVENTS`` (default 300) events in the last minute — more than the 200 a run
samples per workspace for property drift — with four properties (one planted new property
in one workspace in 100, after a day of learning). The run is timed twice: the first opens
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
from monitoring.anomalies import selectors, services
from monitoring.anomalies.detectors import baseline_windows
from monitoring.anomalies.models import Anomaly, KnownEventName, KnownProperty
from monitoring.anomalies.run import anomalies_detect_region
from tests.bench.report import Row
from tests.bench.seed import progress
from workspaces import services as workspace_services
from workspaces.actors import SystemActor
from workspaces.models import Workspace
from workspaces.regions import region_db

ACTOR = SystemActor("bench")
WORKSPACES = int(os.environ.get("BENCH_ANOMALY_WORKSPACES", "1000"))
REGION = "eu"
FAILING_EVERY = 100
EVENTS = int(os.environ.get("BENCH_ANOMALY_EVENTS", "300"))

DESCRIPTIONS = [
    f"70 anomaly run over {WORKSPACES:,} EU workspaces' minute figures (8 series each, the",
    "   minutes a run reads: the last 1½ h and the same time on 7 previous days): the whole",
    "   run in steady state — read (one query for the region), detect, write",
    "71 the detectors alone (pure Python), per run and per workspace",
    "72 the first run: for 1 workspace in 100 it opens a destination down (with its",
    "   incident) and a delivery error rate, and a new property (schema drift), all audited",
    f"73 the property sample alone: {EVENTS} events stored per workspace in the last minute,",
    "   at most 200 read per workspace (names and jsonb_typeof, one query for the region)",
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


def _seed_events(workspace_ids: list[int], now) -> int:
    """``EVENTS`` events per workspace over the minute before ``now``; one workspace in 100
    has a property (``coupon``) it never had before."""
    with connections[region_db(REGION)].cursor() as cursor:
        cursor.execute(
            "INSERT INTO destinations_event (workspace_id, message_id, type, name, anonymous_id,"
            " user_id_hash, group_id_hash, previous_id_hash, timestamp, received_at, properties,"
            " traits, context, integrations, identifiers, consent, validation, status, source,"
            " fanout_pending)"
            " SELECT w, 'bench-' || w || '-' || n, 'track',"
            "  CASE WHEN n %% 3 = 0 THEN 'Order Completed' ELSE 'Product Viewed' END, 'anon-' || n,"
            "  '', '', '', t, t,"
            "  jsonb_build_object('product_id', 'p-' || n, 'price', n * 1.5, 'currency', 'EUR',"
            "   'in_stock', n %% 2 = 0)"
            "   || CASE WHEN w = ANY(%(drifting)s) AND n = 1"
            "      THEN jsonb_build_object('coupon', 'SUMMER') ELSE '{}'::jsonb END,"
            "  '{}', '{}', '{}', '{}', '{}', '{}', 'ok', 'native', false"
            " FROM unnest(%(ws)s::bigint[]) w, generate_series(1, %(events)s) n,"
            "  LATERAL (SELECT %(now)s::timestamptz - n * (interval '55 seconds' / %(events)s))"
            "  AS x(t)",
            {
                "ws": workspace_ids,
                "drifting": workspace_ids[::FAILING_EVERY],
                "events": EVENTS,
                "now": now,
            },
        )
        rows = cursor.rowcount
        cursor.execute("ANALYZE destinations_event")
    return rows


def _learnt_yesterday(workspace_ids: list[int], now) -> None:
    """What a day of learning leaves: both event names and the four usual properties."""
    yesterday = now - timedelta(days=2)
    KnownEventName.objects.bulk_create(
        KnownEventName(workspace_id=w, name=name, first_seen=yesterday, last_seen=now)
        for w in workspace_ids
        for name in ("Product Viewed", "Order Completed")
    )
    KnownProperty.objects.bulk_create(
        KnownProperty(
            workspace_id=w,
            event=event,
            name=f"properties.{name}",
            type=kind,
            first_seen=yesterday,
            last_seen=now,
        )
        for w in workspace_ids
        for event in ("Product Viewed", "Order Completed")
        for name, kind in (
            ("product_id", "string"),
            ("price", "number"),
            ("currency", "string"),
            ("in_stock", "boolean"),
        )
    )


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
    events = _seed_events(ids, now)
    _learnt_yesterday(ids, now)
    progress(
        f"seeded {seeded:,} minute figures and {events:,} events in "
        f"{time.perf_counter() - started:.0f} s"
    )

    started = time.perf_counter()
    first = anomalies_detect_region(region=REGION, now=now)
    first_seconds = time.perf_counter() - started
    started = time.perf_counter()
    steady = anomalies_detect_region(region=REGION, now=now)
    steady_seconds = time.perf_counter() - started
    started = time.perf_counter()
    sample = selectors.region_property_sample(
        region=REGION,
        workspace_ids=ids,
        since=now - timedelta(minutes=1),
        until=now,
    )
    sample_seconds = time.perf_counter() - started
    known = services.known_schema_for(
        workspaces=[Workspace(pk=pk) for pk in ids], now=now, sampled=set(sample)
    )
    known_seconds = time.perf_counter() - started - sample_seconds
    expected = len(ids[::FAILING_EVERY])
    drift = (
        Anomaly.objects.filter(
            kind="schema_drift", subject="event:Order Completed|properties.coupon"
        ).count()
        + Anomaly.objects.filter(
            kind="schema_drift", subject="event:Product Viewed|properties.coupon"
        ).count()
    )
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
                + f"; new property {drift} of {expected} planted"
                + ("" if drift == expected else " — MISMATCH")
                + f"; {first.opened} opened in all, {len(first.failed)} failed"
            ),
        ),
        Row(
            "73 property sample (read)",
            f"{sample_seconds:,.2f} s",
            check=(
                f"{events:,} events stored, {len(sample):,} workspaces sampled, "
                f"{sum(len(rows) for rows in sample.values()):,} (event, property, type) rows; "
                f"reading the learnt schema {known_seconds:.2f} s "
                f"({sum(len(k[0].properties) for k in known.values()):,} events' properties)"
            ),
        ),
    ]
