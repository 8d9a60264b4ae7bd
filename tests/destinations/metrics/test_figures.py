"""Minute figures: the adding writer, the rejected events' cap, and the selectors."""

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connections, transaction

from destinations.metrics import (
    DELIVERY_LATENCY,
    EVENTS_ACCEPTED,
    EVENTS_REJECTED,
    LATENCY_BUCKETS,
    REJECTED_KEPT_PER_MINUTE,
)
from destinations.metrics.purge import (
    FIGURES_RETENTION_DAYS,
    figures_purge,
    figures_purge_expired,
    rejected_events_purge,
)
from destinations.metrics.selectors import (
    figures_series,
    figures_totals,
    latency_p95,
    percentile_from_buckets,
    region_minutes,
)
from destinations.metrics.writer import Figures, RejectedRow, figures_write
from destinations.models import MinuteFigure, RejectedEvent
from workspaces.regions import workspace_db

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 12, 5, 10, 0, 30, tzinfo=UTC)


def _write(workspace, figures, rejected=()):
    with transaction.atomic(using=workspace_db(workspace)):
        return figures_write(figures, using=workspace_db(workspace), rejected=rejected)


def _rejected(workspace, at, n):
    return [
        RejectedRow(workspace.pk, at, f"m{i}", "track", "Bad", "invalid_type", "event", "x", [],
                    "", "native")
        for i in range(n)
    ]  # fmt: skip


def test_writes_add_to_the_minute_and_never_replace(workspace):
    for _ in range(2):
        figures = Figures()
        figures.add(workspace_id=workspace.pk, at=T0, kind=EVENTS_ACCEPTED, subject="Order")
        figures.add(workspace_id=workspace.pk, at=T0 + timedelta(seconds=10),
                    kind=EVENTS_ACCEPTED, subject="Order", value=2)  # fmt: skip
        figures.add_latency(workspace_id=workspace.pk, at=T0, kind=DELIVERY_LATENCY,
                            subject="dst_1", ms=120)  # fmt: skip
        _write(workspace, figures)

    rows = {f.kind: f for f in MinuteFigure.objects.for_workspace(workspace)}
    assert rows[EVENTS_ACCEPTED].value == 6
    assert rows[EVENTS_ACCEPTED].minute == T0.replace(second=0)
    latency = rows[DELIVERY_LATENCY]
    assert (latency.value, latency.count) == (240, 2)
    assert sum(latency.buckets) == 2 and len(latency.buckets) == LATENCY_BUCKETS


def test_series_totals_and_region_rows_are_the_workspaces_own(workspace, other_workspace):
    for ws, value in ((workspace, 3), (other_workspace, 50)):
        figures = Figures()
        figures.add(workspace_id=ws.pk, at=T0, kind=EVENTS_ACCEPTED, subject="Order", value=value)
        figures.add(workspace_id=ws.pk, at=T0 + timedelta(hours=1), kind=EVENTS_ACCEPTED,
                    subject="Order", value=value)  # fmt: skip
        _write(ws, figures)

    since, until = datetime(2026, 12, 5, 9, tzinfo=UTC), datetime(2026, 12, 5, 12, tzinfo=UTC)
    series = figures_series(
        workspace=workspace, kinds=[EVENTS_ACCEPTED], since=since, until=until, step="hour"
    )
    assert series == {
        (EVENTS_ACCEPTED, "Order"): [
            (datetime(2026, 12, 5, 9, tzinfo=UTC), 0),
            (datetime(2026, 12, 5, 10, tzinfo=UTC), 3),
            (datetime(2026, 12, 5, 11, tzinfo=UTC), 3),
        ]
    }
    empty = figures_series(workspace=workspace, kinds=[EVENTS_REJECTED], since=since,
                           until=until, step="hour", subject="")  # fmt: skip
    assert empty[(EVENTS_REJECTED, "")] == [
        (start, 0) for start, _ in series[(EVENTS_ACCEPTED, "Order")]
    ]
    assert figures_totals(workspace=workspace, kinds=[EVENTS_ACCEPTED], since=since,
                          until=until) == {(EVENTS_ACCEPTED, "Order"): 6}  # fmt: skip
    rows = list(region_minutes(region=workspace.region, since=since, until=until))
    assert {(row.workspace_id, row.value) for row in rows} == {
        (workspace.pk, 3),
        (other_workspace.pk, 50),
    }


def test_p95_from_the_histogram(workspace):
    figures = Figures()
    for ms in [20] * 90 + [400] * 5 + [2500] * 5:
        figures.add_latency(workspace_id=workspace.pk, at=T0, kind=DELIVERY_LATENCY,
                            subject="dst_a", ms=ms)  # fmt: skip
    _write(workspace, figures)
    p95 = latency_p95(
        workspace=workspace, since=T0 - timedelta(hours=1), until=T0 + timedelta(hours=1)
    )
    # 95 of 100 requests took at most 400 ms: the 95th lies at the top of the (300, 400] bucket.
    assert p95 == {"dst_a": pytest.approx(400.0)}
    assert latency_p95(workspace=workspace, since=T0, until=T0 + timedelta(hours=1),
                       destination="dst_none") == {"dst_none": None}  # fmt: skip
    assert percentile_from_buckets([0] * LATENCY_BUCKETS) is None
    assert percentile_from_buckets([0] * (LATENCY_BUCKETS - 1) + [3]) == 30000.0


def test_rejected_events_capped_per_workspace_per_minute(workspace, other_workspace):
    figures = Figures()
    figures.add(workspace_id=workspace.pk, at=T0, kind=EVENTS_REJECTED, subject="invalid_type",
                value=3 * REJECTED_KEPT_PER_MINUTE)  # fmt: skip
    _, kept = _write(workspace, figures, _rejected(workspace, T0, REJECTED_KEPT_PER_MINUTE - 10))
    assert kept == REJECTED_KEPT_PER_MINUTE - 10
    # A flood in the same minute fills what is left, and no more.
    _, kept = _write(workspace, Figures(), _rejected(workspace, T0, 2 * REJECTED_KEPT_PER_MINUTE))
    assert kept == 10
    _, kept = _write(workspace, Figures(), _rejected(workspace, T0, 5))
    assert kept == 0
    # The next minute, and another workspace, have their own room.
    _, kept = _write(workspace, Figures(), _rejected(workspace, T0 + timedelta(minutes=1), 5))
    assert kept == 5
    _, kept = _write(other_workspace, Figures(), _rejected(other_workspace, T0, 5))
    assert kept == 5
    assert RejectedEvent.objects.for_workspace(workspace).count() == REJECTED_KEPT_PER_MINUTE + 5
    # The figure counted every one.
    assert MinuteFigure.objects.for_workspace(workspace).get().value == 3 * REJECTED_KEPT_PER_MINUTE


def test_purges_take_only_what_is_older(workspace, other_workspace):
    _write(workspace, Figures(), _rejected(workspace, T0, 3))
    _write(workspace, Figures(), _rejected(workspace, T0 + timedelta(days=2), 2))
    _write(other_workspace, Figures(), _rejected(other_workspace, T0, 4))
    assert rejected_events_purge(workspace=workspace, before=T0 + timedelta(days=1), limit=2) == 2
    assert rejected_events_purge(workspace=workspace, before=T0 + timedelta(days=1)) == 1
    assert RejectedEvent.objects.for_workspace(workspace).count() == 2
    assert RejectedEvent.objects.for_workspace(other_workspace).count() == 4

    figures = Figures()
    figures.add(workspace_id=workspace.pk, at=T0, kind=EVENTS_ACCEPTED)
    figures.add(workspace_id=workspace.pk, at=T0 + timedelta(days=2), kind=EVENTS_ACCEPTED)
    _write(workspace, figures)
    assert figures_purge(region=workspace.region, before=T0 + timedelta(days=1)) == 1
    assert MinuteFigure.objects.for_workspace(workspace).count() == 1


def test_the_periodic_figures_purge_keeps_the_retention_window(workspace):
    figures = Figures()
    figures.add(workspace_id=workspace.pk, at=T0, kind=EVENTS_ACCEPTED)
    figures.add(workspace_id=workspace.pk, at=T0 - timedelta(days=1), kind=EVENTS_ACCEPTED)
    _write(workspace, figures)
    now = T0 + timedelta(days=FIGURES_RETENTION_DAYS) - timedelta(hours=1)
    assert figures_purge_expired(region=workspace.region, now=now) == 1
    assert MinuteFigure.objects.for_workspace(workspace).get().minute == T0.replace(second=0)


@pytest.mark.django_db(transaction=True)
def test_two_writers_of_the_same_rows_wait_in_key_order_and_both_count(workspace):
    """Two transactions adding to the same figures (two group commits, two delivery batches):
    each locks its rows in key order, so the second waits for the first rather than taking
    a row the first still needs — no deadlock — and neither count is lost."""
    database = workspace_db(workspace)
    low, high = "a-first", "b-second"

    def figures_of(*subjects):
        figures = Figures()
        for subject in subjects:
            figures.add(workspace_id=workspace.pk, at=T0, kind=EVENTS_ACCEPTED, subject=subject)
        return figures

    errors = []

    def second_writer():
        try:
            with transaction.atomic(using=database):
                # Added in the other order: the write still takes ``low`` first.
                figures_write(figures_of(high, low), using=database)
        except Exception as error:  # reported by the assertion below
            errors.append(error)
        finally:
            connections.close_all()

    thread = threading.Thread(target=second_writer)
    with transaction.atomic(using=database):
        figures_write(figures_of(low), using=database)
        thread.start()
        with connections[database].cursor() as cursor:
            for _ in range(100):  # until the second writer waits for ``low``'s row lock
                cursor.execute(
                    "SELECT count(*) FROM pg_locks WHERE NOT granted AND transactionid = "
                    "(SELECT transactionid FROM pg_locks WHERE pid = pg_backend_pid() "
                    "AND locktype = 'transactionid')"
                )
                if cursor.fetchone()[0]:
                    break
                time.sleep(0.05)
            else:
                pytest.fail("the second writer never waited for the first")
        # Had the second writer locked ``high`` first, this would deadlock.
        figures_write(figures_of(high), using=database)
    thread.join(timeout=10)

    assert not errors
    values = dict(MinuteFigure.objects.for_workspace(workspace).values_list("subject", "value"))
    assert values == {low: 2, high: 2}
