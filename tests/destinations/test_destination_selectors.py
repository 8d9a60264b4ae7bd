"""Reads of the control plane: a destination's health, the delivery log and the chart series —
always one workspace's own."""

from datetime import UTC, datetime, timedelta

import pytest

from destinations.routing import selectors
from tests.destinations.factories import (
    DeliveryAttemptFactory,
    DeliveryFactory,
    DestinationFactory,
)
from tests.factories import EventFactory
from tracklayer.exceptions import NotFoundError

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)


def test_health_counts_attempts_latency_backlog_and_the_latest_error(workspace):
    destination = DestinationFactory(workspace=workspace)
    delivery = DeliveryFactory(destination=destination)
    for index, latency in enumerate([100, 200, 300, 400]):
        DeliveryAttemptFactory(
            delivery=delivery, started_at=T0 + timedelta(minutes=index), latency_ms=latency
        )
    DeliveryAttemptFactory(
        delivery=delivery,
        started_at=T0 + timedelta(minutes=10),
        latency_ms=5000,
        status_code=503,
        outcome="retry",
        error="HTTP 503: try later",
    )
    DeliveryAttemptFactory(  # before the window: not counted
        delivery=delivery, started_at=T0 - timedelta(hours=2), outcome="failed", error="old"
    )
    DeliveryFactory(destination=destination, status="dead")
    DeliveryFactory(destination=destination, status="delivered")

    health = selectors.destination_health(
        workspace=workspace, destination=destination, since=T0 - timedelta(minutes=1)
    )

    assert (health.attempts, health.failures) == (5, 1)
    assert health.success_rate == pytest.approx(0.8)
    assert health.success_percent == 80
    assert health.p50_ms == pytest.approx(300)
    assert health.p95_ms == pytest.approx(4080)  # interpolated between 400 and 5000
    assert (health.last_error, health.last_status_code) == ("HTTP 503: try later", 503)
    assert health.last_error_at == T0 + timedelta(minutes=10)
    assert (health.backlog, health.dead_letters) == (1, 1)
    assert health.state == "active"


def test_a_destination_without_attempts_has_no_rate_and_no_latency(workspace):
    destination = DestinationFactory(workspace=workspace)

    health = selectors.destination_health(workspace=workspace, destination=destination, since=T0)

    assert (health.attempts, health.success_rate, health.p95_ms) == (0, None, None)
    assert (health.last_error, health.last_error_at) == ("", None)


def test_the_list_health_is_the_same_per_destination(workspace):
    first = DestinationFactory(workspace=workspace, name="A")
    second = DestinationFactory(workspace=workspace, name="B", type="meta_capi")
    DeliveryAttemptFactory(delivery=DeliveryFactory(destination=first), started_at=T0)

    items = selectors.destinations_list(workspace=workspace)
    health = selectors.destinations_health(
        workspace=workspace, destinations=items, since=T0 - timedelta(hours=1)
    )

    assert [d.name for d in items] == ["A", "B"]
    assert (health[first.pk].attempts, health[second.pk].attempts) == (1, 0)


def test_another_workspaces_destination_has_no_health_here(workspace, other_workspace):
    foreign = DestinationFactory(workspace=other_workspace)

    with pytest.raises(NotFoundError):
        selectors.destination_health(workspace=workspace, destination=foreign, since=T0)
    with pytest.raises(NotFoundError):
        selectors.destination_get(workspace=workspace, public_id=foreign.public_id)
    assert (
        selectors.destinations_health(workspace=workspace, destinations=[foreign], since=T0) == {}
    )


def test_the_delivery_log_filters_and_pages_newest_first(workspace, other_workspace):
    meta = DestinationFactory(workspace=workspace, type="meta_capi")
    hook = DestinationFactory(workspace=workspace)
    event = EventFactory(workspace=workspace, message_id="order-1")
    to_meta = DeliveryFactory(destination=meta, event=event, created_at=T0)
    to_hook = DeliveryFactory(
        destination=hook, event=event, status="dead", created_at=T0 + timedelta(seconds=1)
    )
    later = DeliveryFactory(destination=hook, created_at=T0 + timedelta(seconds=2))
    DeliveryFactory(destination=DestinationFactory(workspace=other_workspace), created_at=T0)

    everything = selectors.deliveries_list(workspace=workspace)
    of_event = selectors.deliveries_list(workspace=workspace, message_id="order-1")
    dead = selectors.deliveries_list(workspace=workspace, status="dead")
    of_meta = selectors.deliveries_list(workspace=workspace, destination=meta)
    older = selectors.deliveries_list(workspace=workspace, before=to_hook.pk)

    assert [d.pk for d in everything] == [later.pk, to_hook.pk, to_meta.pk]
    assert {d.pk for d in of_event} == {to_meta.pk, to_hook.pk}
    assert [d.pk for d in dead] == [to_hook.pk]
    assert [d.pk for d in of_meta] == [to_meta.pk]
    assert [d.pk for d in older] == [to_meta.pk]
    assert everything[0].event.message_id and everything[0].destination.name


def test_a_delivery_comes_with_its_attempts_oldest_first_and_only_in_its_workspace(
    workspace, other_workspace
):
    delivery = DeliveryFactory(destination=DestinationFactory(workspace=workspace))
    second = DeliveryAttemptFactory(delivery=delivery, started_at=T0 + timedelta(seconds=5))
    first = DeliveryAttemptFactory(delivery=delivery, started_at=T0, outcome="retry")

    found = selectors.delivery_get(workspace=workspace, delivery_id=delivery.pk)

    assert [a.pk for a in found.attempt_list] == [first.pk, second.pk]
    with pytest.raises(NotFoundError):
        selectors.delivery_get(workspace=other_workspace, delivery_id=delivery.pk)


def test_the_series_counts_per_bucket_with_empty_buckets_present(workspace, other_workspace):
    destination = DestinationFactory(workspace=workspace)
    delivery = DeliveryFactory(destination=destination)
    DeliveryAttemptFactory(delivery=delivery, started_at=T0 + timedelta(minutes=5))
    DeliveryAttemptFactory(delivery=delivery, started_at=T0 + timedelta(minutes=6))
    DeliveryAttemptFactory(
        delivery=delivery, started_at=T0 + timedelta(hours=2, minutes=1), outcome="retry"
    )
    DeliveryFactory(
        destination=destination, status="blocked", created_at=T0 + timedelta(hours=1, minutes=9)
    )
    foreign = DeliveryFactory(destination=DestinationFactory(workspace=other_workspace))
    DeliveryAttemptFactory(delivery=foreign, started_at=T0 + timedelta(minutes=5))

    points = selectors.delivery_series(
        workspace=workspace,
        since=T0,
        bucket=timedelta(hours=1),
        until=T0 + timedelta(hours=2, minutes=59),
    )

    assert [(p.start, p.delivered, p.failed, p.blocked) for p in points] == [
        (T0, 2, 0, 0),
        (T0 + timedelta(hours=1), 0, 0, 1),
        (T0 + timedelta(hours=2), 0, 1, 0),
    ]
