"""What the run reads: ``destinations.metrics.selectors.region_minutes_windows`` (one query over
several windows of a region's minute figures) and the detectors' ``region_figures`` on it."""

from datetime import timedelta

import pytest

from destinations.metrics.selectors import (
    minute_number,
    minute_time,
    region_minutes,
    region_minutes_windows,
)
from monitoring.anomalies.detectors import baseline_windows
from monitoring.anomalies.selectors import region_figures
from tests.monitoring.anomalies.conftest import NOW

pytestmark = pytest.mark.django_db

MINUTE = timedelta(minutes=1)


def start(ago: int):
    return NOW.replace(second=0) - ago * MINUTE


def test_the_windows_read_each_row_once_only_inside_them_and_of_the_kinds_asked(
    workspace, other_workspace, write_figures
):
    write_figures(workspace, {m: {("events.accepted", "Order"): m + 1} for m in range(10)})
    write_figures(other_workspace, {3: {("events.accepted", "Order"): 50}})
    write_figures(workspace, {3: {("events.rejected", "schema"): 7}})
    # Minutes 8 and 7 ago; 4 to 2 ago and 3 to 1 ago overlap (read once).
    windows = [(start(8), start(6)), (start(4), start(1)), (start(3), start(0))]

    rows = list(
        region_minutes_windows(region=workspace.region, windows=windows, kinds=["events.accepted"])
    )

    got = sorted((workspace_id, minute, value) for workspace_id, minute, _, _, value, _ in rows)
    assert {(kind, subject) for _, _, kind, subject, _, _ in rows} == {("events.accepted", "Order")}
    at = minute_number(NOW)
    assert got == sorted(
        [(workspace.pk, at - ago, ago + 1) for ago in (8, 7, 4, 3, 2, 1)]
        + [(other_workspace.pk, at - 3, 50)]
    )
    assert list(region_minutes_windows(region=workspace.region, windows=[], kinds=["x"])) == []


def test_region_figures_read_what_one_range_query_per_window_reads(
    workspace, other_workspace, write_figures
):
    at = minute_number(NOW)
    windows = baseline_windows(at)
    # A figure inside each window, and one just outside the first (never read).
    inside = {at - first: {("delivery.failed", "dst_a"): 2} for first, _ in windows}
    write_figures(workspace, inside)
    write_figures(other_workspace, {0: {("events.received", "key_a"): 9}})
    recent_first = windows[0][0]
    write_figures(workspace, {at - recent_first + 1: {("delivery.failed", "dst_a"): 5}})

    figures = region_figures(region=workspace.region, at=at)

    expected: dict[int, dict] = {}
    for first, last in windows:
        for row in region_minutes(
            region=workspace.region, since=minute_time(first), until=minute_time(last + 1)
        ):
            expected.setdefault(row.workspace_id, {})[
                (row.kind, row.subject, minute_number(row.minute))
            ] = (row.value, row.count)
    read = {
        workspace_id: {
            (kind, subject, minute): cell
            for (kind, subject), cells in own.series.items()
            for minute, cell in cells.items()
        }
        for workspace_id, own in figures.items()
    }
    assert read == expected
    assert set(read[workspace.pk]) == {("delivery.failed", "dst_a", first) for first, _ in windows}
    assert read[other_workspace.pk] == {("events.received", "key_a", at): (9, 0)}
