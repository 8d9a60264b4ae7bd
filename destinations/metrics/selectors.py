"""Reading minute figures (the shared interface of the Overview, the destinations page and
the anomaly detectors). Every read names its workspace — or, for the detectors, its region —
and reads that region's database; times are aware datetimes, windows half-open
``[since, until)``."""

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from django.db import connections
from django.db.models import Sum

from destinations.metrics import DELIVERY_LATENCY, LATENCY_BUCKETS, LATENCY_EDGES_MS
from destinations.metrics.writer import minute_of
from destinations.models import MinuteFigure
from workspaces.models import Workspace
from workspaces.regions import region_db, workspace_db

STEPS = {
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
}


def step_start(at: datetime, step: str) -> datetime:
    """The start (UTC) of the ``step`` that holds ``at``."""
    start = minute_of(at)
    if step == "hour":
        return start.replace(minute=0)
    if step == "day":
        return start.replace(hour=0, minute=0)
    if step == "minute":
        return start
    raise ValueError(f"unknown step {step!r} (one of {', '.join(STEPS)})")


def step_starts(*, since: datetime, until: datetime, step: str) -> list[datetime]:
    """Every step's start from the one holding ``since`` up to (excluding) ``until``."""
    current, delta, starts = step_start(since, step), STEPS[step], []
    while current < until:
        starts.append(current)
        current += delta
    return starts


def figures_series(
    *,
    workspace: Workspace,
    kinds: Iterable[str],
    since: datetime,
    until: datetime,
    step: str = "minute",
    subject: str | None = None,
) -> dict[tuple[str, str], list[tuple[datetime, int]]]:
    """Per (kind, subject): the values added up per ``step`` (UTC) over ``[since, until)``,
    zero where nothing happened. Only (kind, subject) pairs with a figure in the window appear
    — except with ``subject`` given, where each kind has its series, zeros and all."""
    kinds = list(kinds)
    starts = step_starts(since=since, until=until, step=step)
    with connections[workspace_db(workspace)].cursor() as cursor:
        cursor.execute(
            """
            SELECT kind, subject, date_trunc(%s, minute AT TIME ZONE 'UTC') AS bucket,
                   sum(value)
            FROM destinations_minutefigure
            WHERE workspace_id = %s AND kind = ANY(%s) AND minute >= %s AND minute < %s
              AND (%s::text IS NULL OR subject = %s::text)
            GROUP BY 1, 2, 3
            """,
            [step, workspace.pk, kinds, since, until, subject, subject],
        )
        rows = cursor.fetchall()
    values: dict[tuple[str, str], dict[datetime, int]] = {}
    if subject is not None:
        values = {(kind, subject): {} for kind in kinds}
    for kind, row_subject, bucket, total in rows:
        values.setdefault((kind, row_subject), {})[bucket.replace(tzinfo=UTC)] = int(total)
    return {
        key: [(start, by_start.get(start, 0)) for start in starts]
        for key, by_start in values.items()
    }


def figures_totals(
    *, workspace: Workspace, kinds: Iterable[str], since: datetime, until: datetime
) -> dict[tuple[str, str], int]:
    """Per (kind, subject) with a figure in ``[since, until)``: the values added up."""
    rows = (
        MinuteFigure.objects.for_workspace(workspace)
        .filter(kind__in=list(kinds), minute__gte=since, minute__lt=until)
        .values_list("kind", "subject")
        .annotate(total=Sum("value"))
        .order_by()
    )
    return {(kind, subject): int(total) for kind, subject, total in rows}


def percentile_from_buckets(buckets: list[int], fraction: float = 0.95) -> float | None:
    """The ``fraction`` percentile of a latency histogram (``LATENCY_EDGES_MS``), interpolated
    linearly inside its bucket; None for an empty histogram. The overflow bucket answers its
    lower edge (a floor: nothing above the last edge is measured more finely)."""
    total = sum(buckets)
    if not total:
        return None
    target = fraction * total
    seen = 0
    for index, in_bucket in enumerate(buckets):
        if in_bucket and seen + in_bucket >= target:
            if index >= len(LATENCY_EDGES_MS):
                return float(LATENCY_EDGES_MS[-1])
            low = LATENCY_EDGES_MS[index - 1] if index else 0
            high = LATENCY_EDGES_MS[index]
            return low + (high - low) * (target - seen) / in_bucket
        seen += in_bucket
    return float(LATENCY_EDGES_MS[-1])


# Each bucket added up in the database: one row per destination instead of every minute's
# histogram decoded in Python (7 days of 10 destinations: 150 ms instead of 630 ms, measured).
_BUCKET_SUMS = ", ".join(f"sum((buckets->>{index})::bigint)" for index in range(LATENCY_BUCKETS))


def latency_p95(
    *,
    workspace: Workspace,
    since: datetime,
    until: datetime,
    destination: str | None = None,
) -> dict[str, float | None]:
    """Per destination (public id; only ``destination`` when given): the 95th percentile of
    its requests' durations in ms over ``[since, until)``, from the histograms."""
    with connections[workspace_db(workspace)].cursor() as cursor:
        cursor.execute(
            f"""
            SELECT subject, {_BUCKET_SUMS}
            FROM destinations_minutefigure
            WHERE workspace_id = %s AND kind = %s AND minute >= %s AND minute < %s
              AND (%s::text IS NULL OR subject = %s::text)
            GROUP BY subject
            """,  # noqa: S608 - only the buckets' indexes are formatted in
            [workspace.pk, DELIVERY_LATENCY, since, until, destination, destination],
        )
        merged = {subject: [int(n or 0) for n in sums] for subject, *sums in cursor.fetchall()}
    if destination is not None:
        merged.setdefault(destination, [0] * LATENCY_BUCKETS)
    return {subject: percentile_from_buckets(buckets) for subject, buckets in merged.items()}


class Row(NamedTuple):
    workspace_id: int
    minute: datetime
    kind: str
    subject: str
    value: int
    count: int


def region_minutes(
    *,
    region: str,
    since: datetime,
    until: datetime,
    kinds: Iterable[str] | None = None,
) -> Iterator[Row]:
    """Every workspace's figures of ``region`` in ``[since, until)``, ordered by workspace,
    minute, kind, subject: one query (streamed). The detectors read several windows at once
    with ``region_minutes_windows``."""
    figures = MinuteFigure.objects.in_region(region).filter(minute__gte=since, minute__lt=until)
    if kinds is not None:
        figures = figures.filter(kind__in=list(kinds))
    for row in (
        figures.order_by("workspace_id", "minute", "kind", "subject")
        .values_list("workspace_id", "minute", "kind", "subject", "value", "count")
        .iterator(chunk_size=5000)
    ):
        yield Row(*row)


def minute_number(at: datetime) -> int:
    """Whole minutes since the epoch (UTC): the unit ``region_minutes_windows`` reads in."""
    return int(at.timestamp()) // 60


def minute_time(number: int) -> datetime:
    """The start (UTC) of minute ``number`` (whole minutes since the epoch)."""
    return datetime.fromtimestamp(number * 60, tz=UTC)


# One statement over several windows (the table's BRIN index on ``minute`` finds each), the
# minute as a whole number: millions of rows, each read as a datetime, triple the read.
_REGION_WINDOWS = (
    "SELECT workspace_id, (extract(epoch FROM minute) / 60)::bigint, kind, subject, value, count"
    " FROM destinations_minutefigure WHERE kind = ANY(%s) AND ({windows})"
)
_WINDOW = "(minute >= %s AND minute < %s)"


def region_minutes_windows(
    *,
    region: str,
    windows: Sequence[tuple[datetime, datetime]],
    kinds: Iterable[str],
    chunk_size: int = 20_000,
) -> Iterator[tuple[int, int, str, str, int, int]]:
    """Every workspace's figures of ``kinds`` in ``region`` inside any of ``windows`` (each
    half-open ``[since, until)``; a row inside two comes once): one query (streamed) for the
    anomaly detectors, which judge a minute by the recent minutes and the same time on the
    previous days. ``region_minutes``' figures, read for volume: unordered (the detectors add
    rows up; sorting millions costs more than reading them) and as plain tuples
    ``(workspace_id, minute, kind, subject, value, count)`` with ``minute`` a
    ``minute_number``."""
    if not windows:
        return
    params: list = [list(kinds)]
    for since, until in windows:
        params += [since, until]
    sql = _REGION_WINDOWS.format(windows=" OR ".join([_WINDOW] * len(windows)))
    with connections[region_db(region)].chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(chunk_size):
            yield from rows
