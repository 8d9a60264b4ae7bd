"""Property drift without a tracking plan: the run samples the last minute's stored events
(property names and JSON types only), learns them for a day, then reports a new property or
a type change as one anomaly and one ``schema.drift`` entry — bounded, forgotten after 30
days, per workspace, and without a property's value ever reaching the control plane."""

from datetime import timedelta

import pytest

from audit.models import AuditEntry
from monitoring.anomalies import detectors, services
from monitoring.anomalies.detectors import KnownSchema, PropertySeen
from monitoring.anomalies.models import Anomaly, KnownEventName, KnownProperty
from monitoring.anomalies.run import anomalies_detect_region
from tests.audit_entries import audit_entries
from tests.factories import EventFactory
from tests.monitoring.anomalies.conftest import NOW

pytestmark = pytest.mark.django_db

TOMORROW = NOW + timedelta(days=1, minutes=5)
USUAL = {"order_id": "o-1", "total": 42.5}
SECRET = "jane.doe+SECRET-4711@example.com"  # a value: must never leave the event store


@pytest.fixture
def send(write_figures):
    """``send(workspace, properties, now=NOW, name=…, events=1)``: stored events received
    in the minute before ``now``, and their ``events.accepted`` figure (what makes the run
    judge the workspace)."""

    def send(workspace, properties, *, now=NOW, name="Order Completed", events=1):
        for n in range(events):
            EventFactory(
                workspace=workspace,
                name=name,
                properties=properties,
                received_at=now - timedelta(seconds=10 + n * 0.1),
                timestamp=now - timedelta(seconds=10),
            )
        write_figures(workspace, {0: {("events.accepted", name): events}}, now=now)

    return send


def run(workspace, now):
    return anomalies_detect_region(region=workspace.region, now=now)


def drift(workspace):
    return list(Anomaly.objects.filter(workspace=workspace, kind="schema_drift"))


def learnt(workspace, send):
    """A day of learning: ``Order Completed`` with ``order_id`` (string) and ``total``."""
    send(workspace, USUAL)
    run(workspace, NOW)


def test_during_learning_nothing_is_drift_and_names_and_types_are_learnt(workspace, send):
    send(workspace, USUAL)
    run(workspace, NOW)
    send(workspace, {**USUAL, "coupon": "SUMMER", "total": "42.50"}, now=NOW + timedelta(hours=2))
    run(workspace, NOW + timedelta(hours=2))

    assert drift(workspace) == []
    assert audit_entries(workspace, "schema.drift") == []
    assert set(
        KnownProperty.objects.filter(workspace=workspace).values_list("event", "name", "type")
    ) == {
        ("Order Completed", "properties.order_id", "string"),
        ("Order Completed", "properties.total", "number"),
        ("Order Completed", "properties.total", "string"),
        ("Order Completed", "properties.coupon", "string"),
    }


def test_a_new_property_after_learning_is_one_anomaly_and_one_schema_drift_entry(workspace, send):
    learnt(workspace, send)
    send(workspace, {**USUAL, "coupon": "SUMMER"}, now=TOMORROW, events=3)
    run(workspace, TOMORROW)

    [anomaly] = drift(workspace)
    assert anomaly.subject == "event:Order Completed|properties.coupon"
    assert anomaly.evidence["source"] == "sample"
    [entry] = audit_entries(workspace, "schema.drift")
    assert entry["payload"] == {
        "event": "Order Completed",
        "change": "new_property",
        "path": "properties.coupon",
        "count": 3,
    }
    assert entry["resource_id"] == "event:Order Completed|properties.coupon"

    # Seen again a minute later: learnt, not drift again.
    later = TOMORROW + timedelta(minutes=1)
    send(workspace, {**USUAL, "coupon": "WINTER"}, now=later)
    run(workspace, later)
    assert len(drift(workspace)) == 1
    assert len(audit_entries(workspace, "schema.drift")) == 1


def test_a_type_change_is_one_anomaly_and_one_entry(workspace, send):
    learnt(workspace, send)
    send(workspace, {"order_id": "o-2", "total": "42.50"}, now=TOMORROW)
    run(workspace, TOMORROW)

    [anomaly] = drift(workspace)
    assert anomaly.subject == "event:Order Completed|properties.total"
    assert "now string" in anomaly.summary
    [entry] = audit_entries(workspace, "schema.drift")
    assert entry["payload"]["change"] == "type_changed"
    assert entry["payload"]["path"] == "properties.total"


def test_the_properties_of_a_new_event_name_are_its_name_drift_only(workspace, send):
    learnt(workspace, send)
    send(workspace, {"refund_id": "r-1", "amount": 3}, now=TOMORROW, name="Refund Issued")
    run(workspace, TOMORROW)

    assert [a.subject for a in drift(workspace)] == ["event:Refund Issued"]
    assert KnownProperty.objects.filter(workspace=workspace, event="Refund Issued").count() == 2


def test_ids_in_property_keys_are_one_unbounded_finding_not_a_flood(workspace, send):
    learnt(workspace, send)
    flood = {f"cart_item_{n:04d}": n for n in range(detectors.PROPERTIES_MAX + 100)}
    send(workspace, {**USUAL, **flood}, now=TOMORROW)
    run(workspace, TOMORROW)
    later = TOMORROW + timedelta(minutes=1)
    send(workspace, {**USUAL, **{f"cart_item_{n}x": n for n in range(50)}}, now=later)
    run(workspace, later)

    [anomaly] = drift(workspace)
    assert anomaly.subject == "event:*|*"
    assert anomaly.evidence["events_full"] == ["Order Completed"]
    [entry] = audit_entries(workspace, "schema.drift")
    assert entry["payload"] == {"event": "*", "change": "unbounded", "path": "*", "count": 1}
    known = KnownProperty.objects.filter(workspace=workspace, event="Order Completed").count()
    assert known == detectors.PROPERTIES_MAX  # learning stopped at the bound


def test_more_than_ten_changes_in_one_run_are_one_finding(workspace, send):
    learnt(workspace, send)
    extra = {f"field_{n}": "x" for n in range(detectors.DRIFT_NAMES_MAX + 1)}
    send(workspace, {**USUAL, **extra}, now=TOMORROW)
    run(workspace, TOMORROW)

    [anomaly] = drift(workspace)
    assert anomaly.subject == "event:*|properties.*"
    assert anomaly.evidence["changes"] == detectors.DRIFT_NAMES_MAX + 1
    [entry] = audit_entries(workspace, "schema.drift")
    assert entry["payload"]["change"] == "new_property"


def test_no_value_of_a_property_reaches_the_control_plane(workspace, send):
    learnt(workspace, send)
    send(workspace, {**USUAL, "email_hint": SECRET, "total": SECRET}, now=TOMORROW)
    run(workspace, TOMORROW)
    assert len(drift(workspace)) == 2  # a new property and a type change were found

    stored = [
        *Anomaly.objects.filter(workspace=workspace).values(),
        *KnownProperty.objects.filter(workspace=workspace).values(),
        *KnownEventName.objects.filter(workspace=workspace).values(),
        *AuditEntry.objects.filter(workspace=workspace).values(),
    ]
    assert stored
    assert "SECRET-4711" not in repr(stored)


def test_workspaces_learn_and_drift_apart(workspace, other_workspace, send):
    learnt(workspace, send)
    learnt(other_workspace, send)
    send(workspace, {**USUAL, "coupon": "SUMMER"}, now=TOMORROW)
    send(other_workspace, USUAL, now=TOMORROW)
    run(workspace, TOMORROW)

    assert len(drift(workspace)) == 1
    assert drift(other_workspace) == []
    assert audit_entries(other_workspace, "schema.drift") == []
    assert not KnownProperty.objects.filter(
        workspace=other_workspace, name="properties.coupon"
    ).exists()
    # What one workspace learnt is not known to the other: coupon is new there too.
    later = TOMORROW + timedelta(minutes=1)
    send(other_workspace, {**USUAL, "coupon": "SUMMER"}, now=later)
    run(other_workspace, later)
    assert [a.subject for a in drift(other_workspace)] == [
        "event:Order Completed|properties.coupon"
    ]


def test_only_a_bounded_sample_of_the_minute_is_read(workspace, send):
    send(workspace, {"oldest": 1}, now=NOW - timedelta(seconds=40))  # the oldest event
    send(workspace, USUAL, events=200)  # 200 newer ones
    run(workspace, NOW)

    names = set(KnownProperty.objects.filter(workspace=workspace).values_list("name", flat=True))
    assert names == {"properties.order_id", "properties.total"}


def test_what_is_not_seen_for_30_days_is_forgotten_what_is_seen_is_kept(workspace, send):
    learnt(workspace, send)
    month = NOW + services.FORGET_AFTER + timedelta(hours=1)  # on the hour: the forget runs
    KnownProperty.objects.create(
        workspace=workspace,
        event="Order Completed",
        name="properties.old",
        type="string",
        first_seen=NOW - timedelta(days=40),
        last_seen=NOW - timedelta(days=40),
    )
    send(workspace, USUAL, now=month - timedelta(days=1))  # seen again: refreshed
    run(workspace, month - timedelta(days=1))
    send(workspace, USUAL, now=month)
    run(workspace, month)

    names = set(KnownProperty.objects.filter(workspace=workspace).values_list("name", flat=True))
    assert names == {"properties.order_id", "properties.total"}
    assert KnownEventName.objects.filter(workspace=workspace, name="Order Completed").exists()


def test_the_event_names_bound_stops_learning_with_one_finding():
    known = KnownSchema(
        names={f"Viewed {n}" for n in range(detectors.NAMES_MAX)},
        names_learning=False,
        properties_learning=False,
    )
    figures = detectors.Figures()
    for n in range(30):
        figures.add(1000, "events.accepted", f"Viewed item {n}", 1)
    sample = [PropertySeen("Viewed item 1", "properties.x", "string", 1)]
    changes = detectors.property_changes(sample, known)

    found = detectors.detect_drift(figures, 1000, known=known, changes=changes)

    assert [(f.subject, p["change"]) for f, p in found] == [("event:*|*", "unbounded")]
    assert changes.learn == ()  # nothing of an unknown name is learnt past the bound
    assert services.names_room(known, ["Viewed item 1"]) == []


def test_more_than_ten_plan_violations_in_one_run_are_one_finding():
    violations = [
        detectors.Violation(
            "Order Completed", f"properties.item_{n}", "additionalProperties", 2, ""
        )
        for n in range(detectors.DRIFT_NAMES_MAX + 1)
    ]
    few = detectors.detect_drift(detectors.Figures(), 1000, violations[:-1])
    assert len(few) == detectors.DRIFT_NAMES_MAX  # up to the cap: one each

    [(finding, payload)] = detectors.detect_drift(detectors.Figures(), 1000, violations)

    assert finding.subject == "event:*|properties.*"
    assert payload == {
        "event": "*",
        "change": "new_property",
        "path": "properties.*",
        "count": 2 * (detectors.DRIFT_NAMES_MAX + 1),
    }


def test_null_next_to_a_known_type_is_learnt_not_a_type_change():
    known = KnownSchema(
        names={"Order Completed"},
        names_learning=False,
        properties={"Order Completed": {"properties.coupon": {"string"}}},
        properties_learning=False,
    )
    sample = [
        PropertySeen("Order Completed", "properties.coupon", "null", 4),
        PropertySeen("Order Completed", "properties.coupon", "number", 1),
    ]
    changes = detectors.property_changes(sample, known)

    assert [(seen.type, change) for seen, change in changes.learn] == [
        ("null", None),
        ("number", "type_changed"),
    ]
