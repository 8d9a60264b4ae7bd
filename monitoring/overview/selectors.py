"""The Overview's figures for one workspace and one window, read from the minute figures
(destinations.metrics) of the workspace's region — never another workspace's: every read
names the workspace."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from destinations.metrics import (
    DELIVERY_BLOCKED,
    DELIVERY_DEAD,
    DELIVERY_DEAD_REASON,
    DELIVERY_DELIVERED,
    DELIVERY_FAILED,
    EVENT_KINDS,
    EVENTS_ACCEPTED,
    EVENTS_DUPLICATE,
    EVENTS_RECEIVED,
    EVENTS_REJECTED,
    EVENTS_SUPPRESSED,
)
from destinations.metrics.charts import Series, stacked_bars
from destinations.metrics.selectors import (
    STEPS,
    figures_series,
    latency_p95,
    step_start,
)
from destinations.models import Destination
from workspaces.models import Workspace


@dataclass(frozen=True, slots=True)
class Window:
    key: str  # the ?window= value
    label: str
    span: timedelta
    step: str  # destinations.metrics.selectors.STEPS
    tick_every: int
    tick_format: str
    label_format: str

    @property
    def period(self) -> str:
        return f"{self.label.lower()}, per {self.step}"


WINDOWS = {
    window.key: window
    for window in (
        Window("1h", "Last hour", timedelta(hours=1), "minute", 10, "%H:%M", "%H:%M"),
        Window("24h", "Last 24 hours", timedelta(hours=24), "hour", 6, "%H:%M", "%a %H:%M"),
        Window("7d", "Last 7 days", timedelta(days=7), "hour", 24, "%a %d", "%a %d %b %H:%M"),
    )
}
DEFAULT_WINDOW = WINDOWS["24h"]

EVENT_SERIES = (
    Series("accepted", "accepted", "#12b76a"),
    Series("rejected", "rejected", "#f04438"),
    Series("suppressed", "suppressed", "#98a2b3"),
    Series("duplicate", "duplicates", "#f79009"),
)
DELIVERY_SERIES = (
    Series("delivered", "delivered", "#12b76a"),
    Series("failed", "failed attempts", "#f04438"),
    Series("blocked", "blocked by consent", "#98a2b3"),
    Series("dead", "dead-lettered", "#7a271a"),
)
_EVENT_KIND_KEYS = {
    EVENTS_ACCEPTED: "accepted",
    EVENTS_REJECTED: "rejected",
    EVENTS_SUPPRESSED: "suppressed",
    EVENTS_DUPLICATE: "duplicate",
}
_DELIVERY_KIND_KEYS = {
    DELIVERY_DELIVERED: "delivered",
    DELIVERY_FAILED: "failed",
    DELIVERY_BLOCKED: "blocked",
    DELIVERY_DEAD: "dead",
}
TOP_NAMES = 10


def window_parse(value: str | None) -> Window:
    """The window a ``?window=`` names; anything else is the default (a stale or edited link
    still opens, as the other pages' filters do)."""
    return WINDOWS.get(value or "", DEFAULT_WINDOW)


def window_bounds(window: Window, now: datetime | None = None) -> tuple[datetime, datetime]:
    """``[since, until)`` in whole steps, the last one the step in progress."""
    until = step_start(now or timezone.now(), window.step) + STEPS[window.step]
    return until - window.span, until


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


@dataclass
class DestinationFigures:
    public_id: str
    name: str
    type_label: str
    deleted: bool
    delivered: int = 0
    failed: int = 0
    blocked: int = 0
    dead: int = 0
    dead_reasons: list[tuple[str, int]] = field(default_factory=list)
    p95_ms: float | None = None
    chart: dict | None = None

    @property
    def success_percent(self) -> float | None:
        """Delivered over every try, refusals before sending included (they are failures)."""
        return _percent(self.delivered, self.delivered + self.failed)

    @property
    def block_percent(self) -> float | None:
        return _percent(self.blocked, self.delivered + self.blocked + self.dead)


@dataclass
class OverviewFigures:
    window: Window
    since: datetime
    until: datetime
    received: int
    accepted: int
    rejected: int
    suppressed: int
    duplicates: int
    rejected_by_reason: list[tuple[str, int]]
    accepted_by_name: list[tuple[str, int]]
    events_chart: dict
    deliveries_chart: dict
    destinations: list[DestinationFigures]
    delivered: int
    failed: int
    blocked: int
    dead: int

    @property
    def block_percent(self) -> float | None:
        """The consent block rate: blocked over every delivery that reached an outcome."""
        return _percent(self.blocked, self.delivered + self.blocked + self.dead)

    @property
    def has_events(self) -> bool:
        return bool(self.received or self.accepted or self.rejected)


def _by_count(pairs: dict[str, int]) -> list[tuple[str, int]]:
    return sorted(pairs.items(), key=lambda pair: (-pair[1], pair[0]))


def _chart(window: Window, starts, values, series, title: str, empty: str) -> dict:
    return stacked_bars(
        starts=starts,
        values=values,
        series=series,
        title=title,
        period=window.period,
        tick_every=window.tick_every,
        tick_format=window.tick_format,
        label_format=window.label_format,
        empty=empty,
    )


def _destinations_named(workspace: Workspace, public_ids: set[str]) -> list[Destination]:
    """The workspace's live destinations, and any deleted one the figures name."""
    return list(
        Destination.objects.filter(workspace=workspace)
        .filter(Q(deleted_at__isnull=True) | Q(public_id__in=public_ids))
        .order_by("name", "pk")
    )


def overview_figures(
    *, workspace: Workspace, window: Window, now: datetime | None = None
) -> OverviewFigures:
    since, until = window_bounds(window, now)
    bounds = {"workspace": workspace, "since": since, "until": until}
    # One read of the window for every kind shown: the (workspace, minute, …) index is walked
    # once for all of them, not once per kind group (seven days are most of the page's time).
    series = figures_series(
        kinds=[*EVENT_KINDS, *_DELIVERY_KIND_KEYS, DELIVERY_DEAD_REASON], step=window.step, **bounds
    )
    events, deliveries, reasons = {}, {}, {}
    for (kind, subject), points in series.items():
        if kind in _DELIVERY_KIND_KEYS:
            deliveries[(kind, subject)] = points
        elif kind == DELIVERY_DEAD_REASON:
            reasons[(kind, subject)] = sum(value for _, value in points)
        else:
            events[(kind, subject)] = points
    p95 = latency_p95(**bounds)
    steps = max(round(window.span / STEPS[window.step]), 1)

    starts: list[datetime] = []
    event_values = {series.key: [0] * steps for series in EVENT_SERIES}
    totals = dict.fromkeys(EVENT_KINDS, 0)
    by_reason: dict[str, int] = {}
    by_name: dict[str, int] = {}
    for (kind, subject), points in events.items():
        starts = [start for start, _ in points]
        total = sum(value for _, value in points)
        totals[kind] += total
        if kind in _EVENT_KIND_KEYS:
            into = event_values[_EVENT_KIND_KEYS[kind]]
            for index, (_, value) in enumerate(points):
                into[index] += value
        if kind == EVENTS_REJECTED:
            by_reason[subject] = by_reason.get(subject, 0) + total
        elif kind == EVENTS_ACCEPTED:
            by_name[subject] = by_name.get(subject, 0) + total

    per_destination: dict[str, dict[str, list[int]]] = {}
    all_values = {series.key: [0] * steps for series in DELIVERY_SERIES}
    for (kind, subject), points in deliveries.items():
        starts = starts or [start for start, _ in points]
        key = _DELIVERY_KIND_KEYS[kind]
        values = per_destination.setdefault(subject, {})
        values[key] = [value for _, value in points]
        for index, (_, value) in enumerate(points):
            all_values[key][index] += value
    if not starts:
        # Nothing in the window: the charts still show its empty steps.
        starts = [since + index * STEPS[window.step] for index in range(steps)]

    dead_reasons: dict[str, list[tuple[str, int]]] = {}
    for (_, subject), count in reasons.items():
        destination_id, _, reason = subject.partition("|")
        dead_reasons.setdefault(destination_id, []).append((reason, count))

    rows = []
    for destination in _destinations_named(workspace, set(per_destination) | set(p95)):
        values = per_destination.get(destination.public_id, {})
        row = DestinationFigures(
            public_id=destination.public_id,
            name=destination.name,
            type_label=destination.get_type_display(),
            deleted=destination.deleted_at is not None,
            dead_reasons=sorted(dead_reasons.get(destination.public_id, []), key=lambda r: -r[1]),
            p95_ms=p95.get(destination.public_id),
            **{key: sum(values.get(key, ())) for key in _DELIVERY_KIND_KEYS.values()},
        )
        if values:
            row.chart = _chart(
                window,
                starts,
                values,
                DELIVERY_SERIES,
                f"Deliveries to {destination.name}",
                "Nothing sent to this destination in this period.",
            )
        rows.append(row)

    return OverviewFigures(
        window=window,
        since=since,
        until=until,
        received=totals[EVENTS_RECEIVED],
        accepted=totals[EVENTS_ACCEPTED],
        rejected=totals[EVENTS_REJECTED],
        suppressed=totals[EVENTS_SUPPRESSED],
        duplicates=totals[EVENTS_DUPLICATE],
        rejected_by_reason=_by_count(by_reason),
        accepted_by_name=_by_count(by_name)[:TOP_NAMES],
        events_chart=_chart(
            window, starts, event_values, EVENT_SERIES, "Events", "No events in this period."
        ),
        deliveries_chart=_chart(
            window,
            starts,
            all_values,
            DELIVERY_SERIES,
            "Deliveries",
            "Nothing delivered in this period.",
        ),
        destinations=rows,
        delivered=sum(all_values["delivered"]),
        failed=sum(all_values["failed"]),
        blocked=sum(all_values["blocked"]),
        dead=sum(all_values["dead"]),
    )
