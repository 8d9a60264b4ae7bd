"""The detectors: pure functions from one workspace's minute figures to findings.

Guarantees:

- No database, no clock, no settings: the caller passes the figures (``Figures``, their
  kinds ``destinations.metrics``'), the minute to judge (``at``, the current minute, UTC)
  and what it knows of the control plane (paused destinations, tracking-plan violations).
  The same input always gives the same findings.
- Every finding carries its evidence: the figure observed, the baseline (median, spread,
  samples, days, method), the rule that fired and a short series with its baseline band for
  the sparkline — counts and rates only, no personal data.
- The baseline respects time of day: the same minutes of the day (± ``WINDOW`` minutes) over
  the previous ``BASELINE_DAYS`` days, as a median and a robust spread (1.4826 × the median
  absolute deviation, never below the Poisson noise √median). With fewer than
  ``MIN_BASELINE_DAYS`` days of history the previous hour is the baseline instead; with less
  than that, the volume rules stay silent. Floors keep quiet workspaces from alarming.

docs/monitoring.md ("Anomalies") describes the method and its figures.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from statistics import median

from destinations.metrics import (
    DEAD_UNSENDABLE,
    DELIVERY_BLOCKED,
    DELIVERY_DEAD_REASON,
    DELIVERY_DELIVERED,
    DELIVERY_FAILED,
    DELIVERY_LATENCY,
    EVENTS_ACCEPTED,
    EVENTS_DUPLICATE,
    EVENTS_RECEIVED,
)

MINUTES_PER_DAY = 1440
BASELINE_DAYS = 7
WINDOW = 15  # ± minutes around the same time of day
MIN_BASELINE_DAYS = 3
RECENT = 60  # minutes of the fallback baseline (history shorter than MIN_BASELINE_DAYS)
SPARK = 30  # minutes in the evidence's sparkline

# Volume (per source, per event name): a 5-minute sum against the baseline's 5-minute sums.
VOLUME_MINUTES = 5
VOLUME_FLOOR = 30  # events expected in 5 minutes before a drop can be seen
VOLUME_DROP_RATIO = 0.5
VOLUME_DROP_Z = -4.0
VOLUME_SPIKE_RATIO = 3.0
VOLUME_SPIKE_Z = 6.0
SPIKE_FLOOR = 100  # events in 5 minutes before a spike is news

# Delivery, per destination.
DOWN_MINUTES = 2  # every request failed in each of this many consecutive minutes
ERROR_MINUTES = 5
ERROR_MIN_ATTEMPTS = 20
ERROR_RATE_MIN = 0.25
ERROR_RATE_ABOVE = 0.2  # above the baseline's rate
LATENCY_MINUTES = 5
LATENCY_MIN_COUNT = 20
LATENCY_FACTOR = 3.0
LATENCY_ABOVE_MS = 1000

# Rates over a longer window (slow-moving figures).
RATE_MINUTES = 15
CONSENT_MIN_DECISIONS = 50
CONSENT_CHANGE = 0.25  # absolute change of the block rate
DUPLICATE_MIN_RECEIVED = 50
DUPLICATE_RATE_MIN = 0.2
DUPLICATE_FACTOR = 3.0

# How long a figure must be back to normal before its anomaly resolves itself.
RESOLVE_MINUTES = {"destination_down": 2}
RESOLVE_DEFAULT = 5
# Kinds that are facts rather than figures: they resolve by hand (drift) or when the state
# they report ends (auto-pause).
NOT_AUTO_RESOLVED = frozenset({"schema_drift"})

LOW, MEDIUM, HIGH = "low", "medium", "high"


@dataclass(frozen=True)
class Finding:
    kind: str
    subject: str
    severity: str
    summary: str
    evidence: dict


@dataclass
class Figures:
    """One workspace's minute figures: (kind, subject) → {minute: (value, count)}, minutes as
    whole minutes since the epoch (UTC). ``covered`` holds the minutes for which the workspace
    had any figure at all, so a missing series in a covered window counts as zero, while a
    window before the workspace existed does not count."""

    series: dict[tuple[str, str], dict[int, tuple[int, int]]] = field(default_factory=dict)
    covered: set[int] = field(default_factory=set)

    def add(self, minute: int, kind: str, subject: str, value: int, count: int = 0) -> None:
        cell = self.series.setdefault((kind, subject), {})
        old = cell.get(minute)
        cell[minute] = (value, count) if old is None else (old[0] + value, old[1] + count)
        self.covered.add(minute)

    def subjects(self, kind: str) -> list[str]:
        return sorted(subject for (k, subject) in self.series if k == kind)


@dataclass(frozen=True)
class PausedDestination:
    public_id: str
    automatic: bool
    reason: str
    paused_at: str  # ISO time


@dataclass(frozen=True)
class Violation:
    """A tracking-plan violation first seen recently (aggregated, without values)."""

    event_name: str
    path: str
    code: str
    count: int
    first_seen: str  # ISO time


# --- windows and the baseline ------------------------------------------------------------------


def baseline_windows(at: int) -> list[tuple[int, int]]:
    """The minute ranges (inclusive) the detectors read to judge minute ``at``: the recent
    minutes (the evaluation windows, the fallback hour's sums, the sparkline and its band),
    then the same time of day on each previous day (± ``WINDOW``, and the evaluation windows
    ending there — which also cover the sparkline's band)."""
    longest = max(VOLUME_MINUTES, ERROR_MINUTES, LATENCY_MINUTES, RATE_MINUTES)
    recent = max(RECENT + 2 * longest, RECENT + SPARK)
    windows = [(at - recent, at)]
    for day in range(1, BASELINE_DAYS + 1):
        centre = at - day * MINUTES_PER_DAY
        windows.append((centre - WINDOW - max(longest, SPARK), centre + WINDOW))
    return windows


def _sum(cells: Mapping[int, tuple[int, int]], end: int, width: int, slot: int = 0) -> int:
    return sum(cells[m][slot] for m in range(end - width + 1, end + 1) if m in cells)


def _days_covered(figures: Figures, at: int) -> list[int]:
    covered = figures.covered
    days = []
    for day in range(1, BASELINE_DAYS + 1):
        centre = at - day * MINUTES_PER_DAY
        if any(m in covered for m in range(centre - WINDOW, centre + WINDOW + 1)):
            days.append(day)
    return days


@dataclass(frozen=True)
class Baseline:
    method: str  # "same_time_of_day" | "recent_hour"
    days: tuple[int, ...]
    ends: tuple[int, ...]  # the minutes whose windows are the samples

    @property
    def usable(self) -> bool:
        return bool(self.ends)


def baseline_for(figures: Figures, at: int, width: int) -> Baseline:
    """The sample windows for a ``width``-minute figure ending at ``at``: the same time of day
    on the covered previous days, or else the previous hour — if the workspace's figures reach
    back that far."""
    days = _days_covered(figures, at)
    if len(days) >= MIN_BASELINE_DAYS:
        ends = tuple(
            at - day * MINUTES_PER_DAY + offset
            for day in days
            for offset in range(-WINDOW, WINDOW + 1)
        )
        return Baseline("same_time_of_day", tuple(days), ends)
    first = min(figures.covered, default=at)
    if first > at - width - RECENT + 5:
        return Baseline("none", (), ())
    ends = tuple(range(at - width - RECENT + 1, at - width + 1))
    return Baseline("recent_hour", (), ends)


def _spread(values: list[float], centre: float) -> float:
    mad = median(abs(v - centre) for v in values) if values else 0.0
    return max(1.4826 * mad, math.sqrt(max(centre, 0.0)), 1.0)


def _stats(values: list[float]) -> tuple[float, float]:
    centre = median(values) if values else 0.0
    return centre, _spread(values, centre)


def _band(cells, baseline: Baseline, at: int, slot: int = 0) -> list[list[float]]:
    """Per minute of the sparkline: [observed, baseline median, low, high]."""
    rows = []
    for m in range(at - SPARK + 1, at + 1):
        observed = cells.get(m, (0, 0))[slot]
        if baseline.method == "same_time_of_day":
            samples = [cells.get(m - d * MINUTES_PER_DAY, (0, 0))[slot] for d in baseline.days]
        else:
            samples = [cells.get(e, (0, 0))[slot] for e in range(m - RECENT, m)]
        centre, spread = _stats(samples)
        rows.append(
            [
                observed,
                round(centre, 2),
                round(max(centre - 3 * spread, 0), 2),
                round(centre + 3 * spread, 2),
            ]
        )
    return rows


def _baseline_evidence(baseline: Baseline, centre: float, spread: float) -> dict:
    return {
        "method": baseline.method,
        "median": round(centre, 3),
        "spread": round(spread, 3),
        "samples": len(baseline.ends),
        "days": list(baseline.days),
        "window_minutes": 2 * WINDOW + 1 if baseline.method == "same_time_of_day" else RECENT,
    }


# --- the detectors -----------------------------------------------------------------------------


def detect_volume(figures: Figures, at: int) -> list[Finding]:
    """Drops and spikes of events received per source and accepted per event name: the last
    ``VOLUME_MINUTES`` minutes' sum against the baseline's sums of the same width."""
    found = []
    baseline = baseline_for(figures, at, VOLUME_MINUTES)
    if not baseline.usable:
        return found
    for kind, label in ((EVENTS_RECEIVED, "source"), (EVENTS_ACCEPTED, "event")):
        for subject in figures.subjects(kind):
            cells = figures.series[(kind, subject)]
            observed = _sum(cells, at, VOLUME_MINUTES)
            samples = [_sum(cells, end, VOLUME_MINUTES) for end in baseline.ends]
            centre, spread = _stats(samples)
            z = (observed - centre) / spread
            drop = (
                centre >= VOLUME_FLOOR
                and observed <= centre * VOLUME_DROP_RATIO
                and z <= VOLUME_DROP_Z
            )
            spike = (
                observed >= SPIKE_FLOOR
                and observed >= centre * VOLUME_SPIKE_RATIO
                and z >= VOLUME_SPIKE_Z
            )
            if not (drop or spike):
                continue
            ratio = observed / centre if centre else None
            if drop:
                severity = (
                    HIGH
                    if observed == 0 and centre >= 100
                    else (MEDIUM if observed <= 0.2 * centre else LOW)
                )
                what = "stopped" if observed == 0 else "dropped"
            else:
                severity = MEDIUM if ratio is None or ratio >= 10 else LOW
                what = "spiked"
            found.append(
                Finding(
                    kind="volume_drop" if drop else "volume_spike",
                    subject=f"{label}:{subject}",
                    severity=severity,
                    summary=(
                        f"Events of {label} {subject or '(none)'} {what}: {observed} in "
                        f"{VOLUME_MINUTES} min against {centre:g} usually."
                    ),
                    evidence={
                        "figure": kind,
                        "observed": observed,
                        "window_minutes": VOLUME_MINUTES,
                        "z": round(z, 2),
                        "ratio": None if ratio is None else round(ratio, 3),
                        "baseline": _baseline_evidence(baseline, centre, spread),
                        "series": _band(cells, baseline, at),
                    },
                )
            )
    return found


def _destinations(figures: Figures) -> list[str]:
    kinds = (DELIVERY_DELIVERED, DELIVERY_FAILED, DELIVERY_BLOCKED, DELIVERY_LATENCY)
    return sorted({subject for (kind, subject) in figures.series if kind in kinds and subject})


def _cells(figures: Figures, kind: str, subject: str) -> dict:
    return figures.series.get((kind, subject), {})


def _failed_requests(figures: Figures, destination: str) -> dict[int, tuple[int, int]]:
    """Failed tries that reached the platform: ``delivery.failed`` less the refusals before
    sending (dead-lettered as ``unsendable``: an event the adapter's precheck refused says
    nothing about the destination being up)."""
    failed = _cells(figures, DELIVERY_FAILED, destination)
    refused = _cells(figures, DELIVERY_DEAD_REASON, f"{destination}|{DEAD_UNSENDABLE}")
    if not refused:
        return failed
    return {
        minute: (max(value - refused.get(minute, (0, 0))[0], 0), count)
        for minute, (value, count) in failed.items()
    }


def detect_delivery(figures: Figures, at: int) -> list[Finding]:
    """Per destination: down (every request failed in each of the last ``DOWN_MINUTES``
    minutes — HIGH, whatever the request count), error rate and latency against baseline."""
    found = []
    baseline = baseline_for(figures, at, ERROR_MINUTES)
    for destination in _destinations(figures):
        delivered = _cells(figures, DELIVERY_DELIVERED, destination)
        failed = _failed_requests(figures, destination)
        # The current minute is still running: the last DOWN_MINUTES minutes counting it, or
        # the DOWN_MINUTES before it (a run early in a minute sees little of it).
        for end in (at, at - 1):
            minutes = range(end - DOWN_MINUTES + 1, end + 1)
            if all(
                failed.get(m, (0, 0))[0] > 0 and delivered.get(m, (0, 0))[0] == 0 for m in minutes
            ):
                failures = sum(failed[m][0] for m in minutes)
                found.append(
                    Finding(
                        kind="destination_down",
                        subject=f"destination:{destination}",
                        severity=HIGH,
                        summary=(
                            f"Every request to {destination} failed for {DOWN_MINUTES} "
                            f"minutes ({failures} failed attempts, none delivered)."
                        ),
                        evidence={
                            "figure": "delivery.failed",
                            "observed": failures,
                            "delivered": 0,
                            "window_minutes": DOWN_MINUTES,
                            "rule": f"every attempt failed in {DOWN_MINUTES} consecutive minutes",
                            "series": _plain(failed, at),
                        },
                    )
                )
                break
        if not baseline.usable:
            continue
        ok, bad = _sum(delivered, at, ERROR_MINUTES), _sum(failed, at, ERROR_MINUTES)
        attempts = ok + bad
        if attempts >= ERROR_MIN_ATTEMPTS:
            base_ok = sum(_sum(delivered, e, ERROR_MINUTES) for e in baseline.ends)
            base_bad = sum(_sum(failed, e, ERROR_MINUTES) for e in baseline.ends)
            base_rate = base_bad / (base_ok + base_bad) if base_ok + base_bad else 0.0
            rate = bad / attempts
            if rate >= ERROR_RATE_MIN and rate >= base_rate + ERROR_RATE_ABOVE:
                found.append(
                    Finding(
                        kind="delivery_error_rate",
                        subject=f"destination:{destination}",
                        severity=HIGH if rate >= 0.9 else MEDIUM,
                        summary=(
                            f"{round(100 * rate)} % of requests to {destination} failed in "
                            f"{ERROR_MINUTES} min (usually {round(100 * base_rate)} %)."
                        ),
                        evidence={
                            "figure": "delivery.failed / attempts",
                            "observed": round(rate, 4),
                            "attempts": attempts,
                            "failed": bad,
                            "window_minutes": ERROR_MINUTES,
                            "baseline": {
                                "method": baseline.method,
                                "rate": round(base_rate, 4),
                                "attempts": base_ok + base_bad,
                                "days": list(baseline.days),
                            },
                            "series": _plain(failed, at),
                        },
                    )
                )
        latency = _cells(figures, DELIVERY_LATENCY, destination)
        total, count = _sum(latency, at, LATENCY_MINUTES), _sum(latency, at, LATENCY_MINUTES, 1)
        if count >= LATENCY_MIN_COUNT:
            means = [
                s / c
                for e in baseline.ends
                if (c := _sum(latency, e, LATENCY_MINUTES, 1))
                and (s := _sum(latency, e, LATENCY_MINUTES)) >= 0
            ]
            if means:
                centre = median(means)
                mean = total / count
                if mean >= centre * LATENCY_FACTOR and mean >= centre + LATENCY_ABOVE_MS:
                    found.append(
                        Finding(
                            kind="delivery_latency",
                            subject=f"destination:{destination}",
                            severity=MEDIUM,
                            summary=(
                                f"Requests to {destination} take {round(mean)} ms on average "
                                f"(usually {round(centre)} ms)."
                            ),
                            evidence={
                                "figure": "delivery.latency_ms (mean)",
                                "observed": round(mean, 1),
                                "requests": count,
                                "window_minutes": LATENCY_MINUTES,
                                "baseline": {
                                    "method": baseline.method,
                                    "median_ms": round(centre, 1),
                                    "samples": len(means),
                                    "days": list(baseline.days),
                                },
                            },
                        )
                    )
    return found


def _plain(cells, at: int) -> list[list[float]]:
    return [[cells.get(m, (0, 0))[0], 0, 0, 0] for m in range(at - SPARK + 1, at + 1)]


def _rate_against_baseline(num, den, at: int, baseline: Baseline) -> tuple[float, int, float, int]:
    n, d = _sum(num, at, RATE_MINUTES), _sum(den, at, RATE_MINUTES)
    bn = sum(_sum(num, e, RATE_MINUTES) for e in baseline.ends[::RATE_MINUTES])
    bd = sum(_sum(den, e, RATE_MINUTES) for e in baseline.ends[::RATE_MINUTES])
    return (n / d if d else 0.0), d, (bn / bd if bd else 0.0), bd


def detect_rates(figures: Figures, at: int) -> list[Finding]:
    """The consent block rate per destination (blocked / decided) and the duplicate rate
    (duplicates / received), over ``RATE_MINUTES``, against the baseline's rate."""
    found = []
    baseline = baseline_for(figures, at, RATE_MINUTES)
    if not baseline.usable:
        return found
    for destination in _destinations(figures):
        blocked = _cells(figures, DELIVERY_BLOCKED, destination)
        decided = _merge(
            blocked,
            _cells(figures, DELIVERY_DELIVERED, destination),
            _cells(figures, DELIVERY_FAILED, destination),
        )
        rate, decisions, base_rate, base_decisions = _rate_against_baseline(
            blocked, decided, at, baseline
        )
        if (
            decisions >= CONSENT_MIN_DECISIONS
            and base_decisions >= CONSENT_MIN_DECISIONS
            and abs(rate - base_rate) >= CONSENT_CHANGE
        ):
            found.append(
                Finding(
                    kind="consent_block_rate",
                    subject=f"destination:{destination}",
                    severity=MEDIUM,
                    summary=(
                        f"Consent blocks {round(100 * rate)} % of events for {destination} "
                        f"(usually {round(100 * base_rate)} %)."
                    ),
                    evidence={
                        "figure": "delivery.blocked / decided",
                        "observed": round(rate, 4),
                        "decisions": decisions,
                        "window_minutes": RATE_MINUTES,
                        "baseline": {
                            "method": baseline.method,
                            "rate": round(base_rate, 4),
                            "decisions": base_decisions,
                            "days": list(baseline.days),
                        },
                        "series": _plain(blocked, at),
                    },
                )
            )
    duplicates = _cells(figures, EVENTS_DUPLICATE, "")
    received = _merge(*(figures.series[k] for k in figures.series if k[0] == EVENTS_RECEIVED))
    rate, count, base_rate, base_count = _rate_against_baseline(duplicates, received, at, baseline)
    if (
        count >= DUPLICATE_MIN_RECEIVED
        and rate >= DUPLICATE_RATE_MIN
        and rate >= base_rate * DUPLICATE_FACTOR
    ):
        found.append(
            Finding(
                kind="duplicate_rate",
                subject="",
                severity=LOW,
                summary=(
                    f"{round(100 * rate)} % of events received were duplicates in "
                    f"{RATE_MINUTES} min (usually {round(100 * base_rate)} %)."
                ),
                evidence={
                    "figure": "events.duplicate / events.received",
                    "observed": round(rate, 4),
                    "received": count,
                    "window_minutes": RATE_MINUTES,
                    "baseline": {
                        "method": baseline.method,
                        "rate": round(base_rate, 4),
                        "received": base_count,
                        "days": list(baseline.days),
                    },
                    "series": _plain(duplicates, at),
                },
            )
        )
    return found


def _merge(*series: Mapping[int, tuple[int, int]]) -> dict[int, tuple[int, int]]:
    merged: dict[int, tuple[int, int]] = {}
    for cells in series:
        for minute, (value, count) in cells.items():
            old = merged.get(minute, (0, 0))
            merged[minute] = (old[0] + value, old[1] + count)
    return merged


# --- drift and state -----------------------------------------------------------------------------

# Tracking-plan violation codes that are schema drift, and what they mean.
DRIFT_CODES = {
    "unplanned": "new_event",
    "additionalProperties": "new_property",
    "type": "type_changed",
}
# More new event names than this in one run (names carrying ids, say) are one finding for
# them all (subject ``event:*``), not one anomaly, audit entry and alert per name; likewise
# more property changes (sampled or from the plan's violations): one finding, subject
# ``event:*|properties.*``.
DRIFT_NAMES_MAX = 10
# Bounds of what a workspace's schema is learnt to: past them learning stops and one finding
# (subject ``event:*|*``, change ``unbounded``) says the schema carries ids in names or keys.
NAMES_MAX = 2000  # known event names per workspace
PROPERTIES_MAX = 500  # known properties per event name
PROPERTY_PREFIX = "properties."  # a sampled property's path, as the plan's violations name it


@dataclass(frozen=True)
class PropertySeen:
    """A top-level property in the sampled events of the last minute: the event name, its
    path (``properties.<name>``), its JSON type and how many sampled events carried it."""

    event: str
    path: str
    type: str
    count: int


@dataclass
class KnownSchema:
    """What a workspace has learnt of its schema: event names, and per event name its
    properties' paths and the types seen for each. ``*_learning``: learnt for less than
    a day (or nothing yet) — then nothing is new."""

    names: set[str] = field(default_factory=set)
    names_learning: bool = True
    properties: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    properties_learning: bool = True

    @property
    def names_full(self) -> bool:
        return len(self.names) >= NAMES_MAX


@dataclass(frozen=True)
class PropertyChanges:
    """The sampled triples to learn, each with its change (``new_property``,
    ``type_changed``, or None: learnt silently — the event name itself is new, which is its
    own drift, or the type is ``null`` next to a known one), and
    the event names past ``PROPERTIES_MAX`` (their new properties are not learnt)."""

    learn: tuple[tuple[PropertySeen, str | None], ...]
    full: tuple[str, ...]


def property_changes(sample: Iterable[PropertySeen], known: KnownSchema) -> PropertyChanges:
    """What the sample holds that ``known`` does not, within the bounds. A property of an
    event name the workspace does not know (and cannot learn: names full) is skipped."""
    learn, full = [], set()
    added: dict[str, set[str]] = {}
    for seen in sorted(sample, key=lambda s: (s.event, s.path, s.type)):
        paths = known.properties.get(seen.event, {})
        types = paths.get(seen.path)
        if types is not None and seen.type in types:
            continue
        if seen.event not in known.names and known.names_full:
            continue
        extra = added.setdefault(seen.event, set())
        if types is None and seen.path not in extra:
            if len(paths) + len(extra) >= PROPERTIES_MAX:
                full.add(seen.event)
                continue
            extra.add(seen.path)
        if seen.event not in known.names:
            change = None
        elif types is None:
            change = "new_property"
        elif seen.type == "null" or types == {"null"}:
            change = None  # an optional property sent empty (or first filled) is no new type
        else:
            change = "type_changed"
        learn.append((seen, change))
    return PropertyChanges(tuple(learn), tuple(sorted(full)))


def _collapsed(found: list[tuple[Finding, dict]], subject: str, what: str) -> tuple[Finding, dict]:
    """One finding for many drift findings (ids in names or keys, say): the commonest
    change, the total count, five examples."""
    changes = [payload["change"] for _, payload in found]
    change = max(sorted(set(changes)), key=changes.count)
    count = sum(payload.get("count", 0) for _, payload in found)
    event, _, path = subject.removeprefix("event:").partition("|")
    payload = {"event": event, "change": change, "count": count}
    if path:
        payload["path"] = path
    examples = [finding.subject.removeprefix("event:") for finding, _ in found[:5]]
    return (
        Finding(
            kind="schema_drift",
            subject=subject,
            severity=LOW,
            summary=f"{len(found)} new {what} in one run, e.g. {', '.join(examples)}.",
            evidence={**payload, "changes": len(found), "examples": examples, "source": "many"},
        ),
        payload,
    )


def _unbounded(known: KnownSchema | None, changes: PropertyChanges | None) -> list:
    full = changes.full if changes else ()
    names_full = bool(known and known.names_full)
    if not (full or names_full):
        return []
    payload = {"event": "*", "change": "unbounded", "path": "*", "count": len(full)}
    parts = []
    if names_full:
        parts.append(f"{NAMES_MAX:,} event names")
    if full:
        parts.append(f"{PROPERTIES_MAX} properties on {', '.join(full[:3])}")
    return [
        (
            Finding(
                kind="schema_drift",
                subject="event:*|*",
                severity=LOW,
                summary=(
                    f"Schema unbounded: {' and '.join(parts)} — ids in event names or property "
                    "keys? New ones are no longer learnt or reported one by one."
                ),
                evidence={
                    **payload,
                    "names_full": names_full,
                    "events_full": list(full[:20]),
                    "names_max": NAMES_MAX,
                    "properties_max": PROPERTIES_MAX,
                    "source": "bounds",
                },
            ),
            payload,
        )
    ]


def detect_drift(
    figures: Figures,
    at: int,
    violations: Iterable[Violation] = (),
    *,
    known_names: Collection[str] | None = None,
    known: KnownSchema | None = None,
    changes: PropertyChanges | None = None,
) -> list[tuple[Finding, dict]]:
    """Schema drift: an event name accepted in the last ``VOLUME_MINUTES`` minutes that is not
    among the workspace's ``known_names`` (None while the workspace is still learning its
    names: then no name is new), the sampled properties' ``changes`` against what is
    ``known`` (none while it is learning its properties), and the tracking plan's new
    violations that mean a new event, a new property or a type change. Each finding comes
    with its ``schema.drift`` audit payload (``{"event", "change", "path"?, "count"}``). Past
    ``DRIFT_NAMES_MAX`` names, or property changes, one finding stands for them all; past the
    bounds (``NAMES_MAX``, ``PROPERTIES_MAX``) one finding says the schema is unbounded."""
    found = []
    if known is not None and known_names is None and not known.names_learning:
        known_names = known.names
    if known_names is not None and not (known and known.names_full):
        new = []
        for name in figures.subjects(EVENTS_ACCEPTED):
            if name in known_names:
                continue
            recent = _sum(figures.series[(EVENTS_ACCEPTED, name)], at, VOLUME_MINUTES)
            if recent:
                new.append((name, recent))
        many = len(new) > DRIFT_NAMES_MAX
        if many:
            examples = [name for name, _ in sorted(new, key=lambda item: -item[1])[:5]]
            names = len(new)
            new = [("*", sum(recent for _, recent in new))]
        for name, recent in new:
            payload = {"event": name, "change": "new_event", "count": recent}
            evidence = {**payload, "source": "figures"}
            summary = f"A new event name: {name} ({recent} in {VOLUME_MINUTES} min)."
            if many:
                evidence.update(names=names, examples=examples)
                summary = (
                    f"{names} new event names in {VOLUME_MINUTES} min ({recent} events), "
                    f"e.g. {', '.join(examples)}."
                )
            found.append(
                (
                    Finding(
                        kind="schema_drift",
                        subject=f"event:{name}",
                        severity=LOW,
                        summary=summary,
                        evidence=evidence,
                    ),
                    payload,
                )
            )
    properties = []
    if changes is not None and known is not None and not known.properties_learning:
        for seen, change in changes.learn:
            if change is None or seen.event in changes.full:
                continue  # a new event is its own drift; a full one is the unbounded finding
            payload = {
                "event": seen.event,
                "change": change,
                "path": seen.path,
                "count": seen.count,
            }
            summary = (
                f"A new property on {seen.event}: {seen.path} ({seen.type})."
                if change == "new_property"
                else f"A property changed type on {seen.event}: {seen.path} (now {seen.type})."
            )
            properties.append(
                (
                    Finding(
                        kind="schema_drift",
                        subject=f"event:{seen.event}|{seen.path}",
                        severity=LOW,
                        summary=summary,
                        evidence={**payload, "type": seen.type, "source": "sample"},
                    ),
                    payload,
                )
            )
    sampled = {finding.subject for finding, _ in properties}
    unplanned = []
    for violation in violations:
        change = DRIFT_CODES.get(violation.code)
        if change is None:
            continue
        payload = {
            "event": violation.event_name,
            "change": change,
            "path": violation.path,
            "count": violation.count,
        }
        subject = f"event:{violation.event_name}"
        if violation.path:
            subject += f"|{violation.path}"
        if subject in sampled:
            continue  # the sample found it too: one finding
        pair = (
            Finding(
                kind="schema_drift",
                subject=subject,
                severity=LOW,
                summary=_drift_summary(change, violation),
                evidence={**payload, "first_seen": violation.first_seen, "source": "plan"},
            ),
            payload,
        )
        (unplanned if change == "new_event" else properties).append(pair)
    if len(unplanned) > DRIFT_NAMES_MAX:
        unplanned = [_collapsed(unplanned, "event:*", "unplanned event names")]
    if len(properties) > DRIFT_NAMES_MAX:
        properties = [_collapsed(properties, "event:*|properties.*", "properties or types")]
    return found + unplanned + properties + _unbounded(known, changes)


def _drift_summary(change: str, violation: Violation) -> str:
    if change == "new_event":
        return f"A new event name: {violation.event_name}."
    if change == "new_property":
        return f"A new property on {violation.event_name}: {violation.path}."
    return f"A property changed type on {violation.event_name}: {violation.path}."


def detect_paused(paused: Iterable[PausedDestination]) -> list[Finding]:
    """A destination paused automatically by the delivery engine: HIGH, open while paused."""
    return [
        Finding(
            kind="auto_pause",
            subject=f"destination:{row.public_id}",
            severity=HIGH,
            summary=row.reason or f"{row.public_id} was paused automatically.",
            evidence={"paused_at": row.paused_at, "reason": row.reason, "automatic": True},
        )
        for row in paused
        if row.automatic
    ]


def detect(
    figures: Figures,
    at: int,
    *,
    paused: Iterable[PausedDestination] = (),
    violations: Iterable[Violation] = (),
    known_names: Collection[str] | None = None,
    known: KnownSchema | None = None,
    changes: PropertyChanges | None = None,
) -> tuple[list[Finding], list[dict]]:
    """Every detector for one workspace at minute ``at``: the findings, and the
    ``schema.drift`` audit payloads of the drift among them."""
    drift = detect_drift(
        figures, at, violations, known_names=known_names, known=known, changes=changes
    )
    findings = [
        *detect_volume(figures, at),
        *detect_delivery(figures, at),
        *detect_rates(figures, at),
        *(finding for finding, _ in drift),
        *detect_paused(paused),
    ]
    return findings, [payload for _, payload in drift]


def resolve_after(kind: str) -> int | None:
    """Minutes a figure must stay normal before its anomaly resolves; None: not by itself."""
    if kind in NOT_AUTO_RESOLVED:
        return None
    return RESOLVE_MINUTES.get(kind, RESOLVE_DEFAULT)
