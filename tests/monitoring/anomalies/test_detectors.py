"""The detectors on synthetic series: a normal day raises nothing, every minute of it; a drop,
a spike, an error storm, a destination down, slow requests, a consent change, duplicates,
drift and an automatic pause are each found, with their evidence."""

import math
import random

from monitoring.anomalies import detectors
from monitoring.anomalies.detectors import Figures, PausedDestination, Violation

DAY = detectors.MINUTES_PER_DAY
START = 29_000_000 - 29_000_000 % DAY  # a midnight, in minutes since the epoch
TODAY = START + 7 * DAY
DEST = "dst_meta"
SUBJECT = f"destination:{DEST}"


def diurnal(minute: int, peak: float) -> float:
    """Events per minute: quiet at night (10 % of the peak), busiest in the afternoon."""
    phase = 2 * math.pi * ((minute % DAY) - 15 * 60) / DAY
    return peak * (0.1 + 0.9 * (1 + math.cos(phase)) / 2)


def noisy(rng: random.Random, mean: float) -> int:
    return max(0, round(rng.gauss(mean, math.sqrt(mean) if mean > 0 else 0)))


def normal_days(until: int, *, peak=60.0, seed=7, days=7, destinations=True) -> Figures:
    """``days`` days before TODAY and today up to ``until`` (inclusive): two sources, two
    event names, one destination with 1 % failures, 5 % blocked by consent, 1 % duplicates."""
    rng = random.Random(seed)
    figures = Figures()
    for minute in range(TODAY - days * DAY, until + 1):
        mean = diurnal(minute, peak)
        web, app = noisy(rng, mean * 0.7), noisy(rng, mean * 0.3)
        figures.add(minute, "events.received", "key_web", web)
        figures.add(minute, "events.received", "key_app", app)
        views = noisy(rng, (web + app) * 0.8)
        figures.add(minute, "events.accepted", "Product Viewed", views)
        figures.add(minute, "events.accepted", "Order Completed", max(web + app - views, 0))
        figures.add(minute, "events.duplicate", "", noisy(rng, mean * 0.01))
        if destinations:
            sent = web + app
            failed = noisy(rng, sent * 0.01)
            blocked = noisy(rng, sent * 0.05)
            figures.add(minute, "delivery.delivered", DEST, max(sent - failed - blocked, 0))
            figures.add(minute, "delivery.failed", DEST, failed)
            figures.add(minute, "delivery.blocked", DEST, blocked)
            figures.add(minute, "delivery.latency_ms", DEST, sent * noisy(rng, 200), sent)
    return figures


def kinds(findings):
    return sorted((f.kind, f.subject) for f in findings)


def test_a_normal_day_raises_nothing_at_any_minute():
    figures = normal_days(TODAY + DAY - 1)
    known = set(figures.subjects("events.accepted"))
    alarms = []
    for at in range(TODAY, TODAY + DAY):
        found, _ = detectors.detect(figures, at, known_names=known)
        alarms.extend((at - TODAY, f.kind, f.subject) for f in found)
    assert alarms == []


def test_a_quiet_workspace_raises_nothing_even_when_it_stops():
    # Two events an hour at most: below every floor.
    figures = normal_days(TODAY + 600, peak=0.05, seed=3)
    for minute in range(TODAY + 601, TODAY + 700):
        figures.add(minute, "events.received", "key_web", 0)
    assert detectors.detect(figures, TODAY + 699)[0] == []


def test_a_drop_of_one_source_is_found_with_its_baseline():
    at = TODAY + 14 * 60  # afternoon
    figures = normal_days(at - 6)
    rng = random.Random(1)
    for minute in range(at - 5, at + 1):
        mean = diurnal(minute, 60.0)
        figures.add(minute, "events.received", "key_web", 0)  # the web source stops
        figures.add(minute, "events.received", "key_app", noisy(rng, mean * 0.3))
    found = detectors.detect_volume(figures, at)
    # The events the web source sent are missing too; the app's source is fine.
    assert {f.kind for f in found} == {"volume_drop"}
    assert "source:key_app" not in {f.subject for f in found}
    [drop] = [f for f in found if f.subject == "source:key_web"]
    assert drop.severity == "high"  # stopped, where a few hundred were expected
    assert drop.evidence["observed"] == 0
    assert drop.evidence["baseline"]["method"] == "same_time_of_day"
    assert drop.evidence["baseline"]["days"] == [1, 2, 3, 4, 5, 6, 7]
    assert drop.evidence["baseline"]["median"] > 150
    assert len(drop.evidence["series"]) == detectors.SPARK


def test_a_spike_is_found():
    at = TODAY + 3 * 60  # at night, when it is quiet
    figures = normal_days(at)
    for minute in range(at - 4, at + 1):
        figures.add(minute, "events.accepted", "Product Viewed", 400)
    found = detectors.detect_volume(figures, at)
    assert ("volume_spike", "event:Product Viewed") in kinds(found)


def test_short_history_falls_back_to_the_previous_hour():
    at = TODAY + 14 * 60
    figures = normal_days(at - 6, days=0)  # today only: 14 hours of history
    for minute in range(at - 5, at + 1):
        figures.add(minute, "events.received", "key_web", 0)
    [drop] = [f for f in detectors.detect_volume(figures, at) if f.subject == "source:key_web"]
    assert drop.evidence["baseline"]["method"] == "recent_hour"


def test_a_brand_new_workspace_is_not_judged():
    figures = Figures()
    at = TODAY + 100
    for minute in range(at - 10, at + 1):
        figures.add(minute, "events.received", "key_web", 500 if minute > at - 3 else 0)
    assert detectors.detect_volume(figures, at) == []


def test_an_error_storm_is_found_and_a_down_destination_within_two_minutes():
    at = TODAY + 14 * 60
    figures = normal_days(at - 2)
    # Minute at-1 fails in part (the storm starts), then every request fails.
    figures.add(at - 1, "delivery.delivered", DEST, 20)
    figures.add(at - 1, "delivery.failed", DEST, 60)
    figures.add(at, "delivery.failed", DEST, 80)
    found = detectors.detect_delivery(figures, at)
    assert ("delivery_error_rate", SUBJECT) in kinds(found)
    assert ("destination_down", SUBJECT) not in kinds(found)  # one minute only
    figures.add(at + 1, "delivery.failed", DEST, 3)  # the breaker keeps requests few
    [down] = [f for f in detectors.detect_delivery(figures, at + 1) if f.kind == "destination_down"]
    assert down.severity == "high"
    assert down.evidence["delivered"] == 0


def test_slow_requests_are_found():
    at = TODAY + 14 * 60
    figures = normal_days(at - 5)
    for minute in range(at - 4, at + 1):
        figures.add(minute, "delivery.delivered", DEST, 100)
        figures.add(minute, "delivery.latency_ms", DEST, 100 * 4000, 100)
    found = detectors.detect_delivery(figures, at)
    assert ("delivery_latency", SUBJECT) in kinds(found)


def test_a_consent_block_rate_change_and_a_duplicate_spike_are_found():
    at = TODAY + 14 * 60
    figures = normal_days(at - 15)
    for minute in range(at - 14, at + 1):
        figures.add(minute, "events.received", "key_web", 100)
        figures.add(minute, "events.duplicate", "", 40)
        figures.add(minute, "delivery.delivered", DEST, 30)
        figures.add(minute, "delivery.blocked", DEST, 70)  # a banner now denies by default
    found = kinds(detectors.detect_rates(figures, at))
    assert ("consent_block_rate", SUBJECT) in found
    assert ("duplicate_rate", "") in found


def test_drift_a_new_event_name_and_the_plans_new_property_and_type_change():
    at = TODAY + 14 * 60
    figures = normal_days(at, destinations=False)
    known = set(figures.subjects("events.accepted"))
    figures.add(at, "events.accepted", "Checkout Started", 12)
    violations = [
        Violation("Order Completed", "properties.coupon", "additionalProperties", 3, "t"),
        Violation("Order Completed", "properties.total", "type", 5, "t"),
        Violation("Order Completed", "properties.total", "minimum", 5, "t"),  # not drift
    ]
    drift = detectors.detect_drift(figures, at, violations, known_names=known)
    assert [payload for _, payload in drift] == [
        {"event": "Checkout Started", "change": "new_event", "count": 12},
        {
            "event": "Order Completed",
            "change": "new_property",
            "path": "properties.coupon",
            "count": 3,
        },
        {
            "event": "Order Completed",
            "change": "type_changed",
            "path": "properties.total",
            "count": 5,
        },
    ]
    # While the workspace is still learning its names, none is new.
    assert detectors.detect_drift(figures, at, known_names=None) == []


def test_an_automatic_pause_is_high_and_a_manual_one_is_not_an_anomaly():
    found = detectors.detect_paused(
        [
            PausedDestination("dst_a", True, "Paused automatically: 9 of 10 failed.", "t"),
            PausedDestination("dst_b", False, "maintenance", "t"),
        ]
    )
    assert [(f.kind, f.subject, f.severity) for f in found] == [
        ("auto_pause", "destination:dst_a", "high")
    ]


def test_windows_cover_what_the_detectors_read():
    at = TODAY + 100
    windows = detectors.baseline_windows(at)
    assert windows[0][1] == at
    assert len(windows) == 1 + detectors.BASELINE_DAYS
    assert windows[1][1] == at - DAY + detectors.WINDOW


def test_refusals_before_sending_do_not_make_a_destination_down():
    at = TODAY + 14 * 60
    figures = normal_days(at - 3)
    for minute in (at - 2, at - 1, at):
        # Every event lacked what the platform needs: refused by the precheck, never sent.
        figures.add(minute, "delivery.failed", DEST, 30)
        figures.add(minute, "delivery.dead_reason", f"{DEST}|unsendable", 30)
    found = kinds(detectors.detect_delivery(figures, at))
    assert ("destination_down", SUBJECT) not in found
    assert ("delivery_error_rate", SUBJECT) not in found


def test_many_new_event_names_at_once_are_one_finding_not_one_each():
    at = TODAY + 14 * 60
    figures = normal_days(at, destinations=False)
    known = set(figures.subjects("events.accepted"))
    for n in range(detectors.DRIFT_NAMES_MAX):
        figures.add(at, "events.accepted", f"Viewed product {n}", 1)
    few = detectors.detect_drift(figures, at, known_names=known)
    assert len(few) == detectors.DRIFT_NAMES_MAX  # up to the cap: one each

    figures.add(at, "events.accepted", "Viewed product 99", 7)
    [(finding, payload)] = detectors.detect_drift(figures, at, known_names=known)

    total = detectors.DRIFT_NAMES_MAX + 7
    assert payload == {"event": "*", "change": "new_event", "count": total}
    assert (finding.kind, finding.subject, finding.severity) == ("schema_drift", "event:*", "low")
    assert finding.evidence["names"] == detectors.DRIFT_NAMES_MAX + 1
    assert finding.evidence["examples"][0] == "Viewed product 99"
    assert len(finding.evidence["examples"]) == 5
