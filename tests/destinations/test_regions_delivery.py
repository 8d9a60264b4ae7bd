"""Delivery per region (issue 13): an EU and a US workspace each fanned out, delivered and
recorded in their own region's database; a worker consuming only ``region.eu`` delivers the
EU workspace's events and not the US one's; a workspace that is moving between regions is
neither fanned out nor delivered; the delivery log, health and replay read their region."""

import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from destinations import delivery, tasks
from destinations.delivery import scheduling
from destinations.models import Delivery, DeliveryAttempt, Event
from destinations.routing import selectors
from destinations.routing.services import deliveries_replay
from tests.destinations.factories import (
    DeliveryAttemptFactory,
    DeliveryFactory,
    DestinationFactory,
)
from tests.destinations.helpers import local, order, run_engine, send_batch
from tests.destinations.worker import celery_worker, wait_for
from tests.factories import EventFactory, WorkspaceFactory, event_with_operational_data
from tracklayer.exceptions import ConflictError
from tracklayer.regions import alias_for
from workspaces.actors import SystemActor
from workspaces.models import ApiKeyRole, Workspace

ACTOR = SystemActor("tests")


@pytest.fixture
def eu(admin_user):
    return WorkspaceFactory(name="Europa", region="eu", owner=admin_user)


@pytest.fixture
def us(admin_user):
    return WorkspaceFactory(name="Union", region="us", owner=admin_user)


def hook(workspace, platforms):
    return DestinationFactory(
        workspace=workspace, type="webhook", config=local("webhook", platforms)
    )


def rows(model, alias: str, **filters) -> int:
    return model.objects.using(alias).filter(**filters).count()


def webhook_ids(platforms) -> set[str]:
    return {event["messageId"] for event in platforms.received("webhook")}


def move(workspace, to: str) -> None:
    """What a region move does first: the workspace is marked as moving (control plane)."""
    Workspace.objects.filter(pk=workspace.pk).update(moving_to=to)


# --- In the test process ---------------------------------------------------------------------


@pytest.mark.django_db
def test_each_workspace_is_fanned_out_delivered_and_recorded_in_its_own_region(
    client, eu, us, make_api_key, platforms
):
    eu_hook, us_hook = hook(eu, platforms), hook(us, platforms)
    send_batch(client, make_api_key(eu)[1], order("eu-1"), order("eu-2"))
    send_batch(client, make_api_key(us)[1], order("us-1"))

    run_engine()

    assert webhook_ids(platforms) == {"eu-1", "eu-2", "us-1"}
    region_eu, region_us = alias_for("eu"), alias_for("us")
    assert rows(Delivery, region_eu, destination_id=eu_hook.pk, status="delivered") == 2
    assert rows(Delivery, region_us, destination_id=us_hook.pk, status="delivered") == 1
    assert rows(DeliveryAttempt, region_eu, destination_id=eu_hook.pk) == 2
    # Nothing of either workspace in the other region's database.
    assert rows(Delivery, region_us, workspace_id=eu.pk) == 0
    assert rows(DeliveryAttempt, region_us, destination_id=eu_hook.pk) == 0
    assert rows(Delivery, region_eu, workspace_id=us.pk) == 0
    assert rows(DeliveryAttempt, region_eu, destination_id=us_hook.pk) == 0


@pytest.mark.django_db
def test_fanout_and_the_sweep_work_one_region_at_a_time(client, eu, us, make_api_key, platforms):
    eu_hook, us_hook = hook(eu, platforms), hook(us, platforms)
    send_batch(client, make_api_key(eu)[1], order("eu-1"))
    send_batch(client, make_api_key(us)[1], order("us-1"))

    count, touched = delivery.events_fanout(region="eu")

    assert (count, touched) == (1, {eu_hook.pk})
    assert Event.objects.for_workspace(us).filter(fanout_pending=True).count() == 1
    assert delivery.due_destination_ids(region="eu") == [eu_hook.pk]
    assert delivery.due_destination_ids(region="us") == []
    assert delivery.events_fanout(region="us") == (1, {us_hook.pk})
    assert delivery.due_destination_ids() == sorted([eu_hook.pk, us_hook.pk])
    assert scheduling.has_due(eu_hook.pk) and scheduling.has_due(us_hook.pk)


@pytest.mark.django_db
def test_a_moving_workspace_is_neither_fanned_out_nor_delivered(
    client, eu, us, make_api_key, platforms
):
    eu_hook, us_hook = hook(eu, platforms), hook(us, platforms)
    eu_token = make_api_key(eu)[1]
    send_batch(client, eu_token, order("before"))
    delivery.events_fanout(region="eu")  # a delivery is pending when the move begins
    send_batch(client, eu_token, order("during"))
    send_batch(client, make_api_key(us)[1], order("us-1"))
    move(eu, "us")

    run_engine()
    result = delivery.destination_deliver(destination_id=eu_hook.pk)

    assert webhook_ids(platforms) == {"us-1"}
    assert result == delivery.DeliverResult()
    assert delivery.due_destination_ids() == []
    assert not scheduling.has_due(us_hook.pk)
    # Left exactly as they were for the move to copy: the event still marked, the delivery
    # pending and untried.
    during = Event.objects.for_workspace(eu).get(message_id="during")
    assert during.fanout_pending
    [waiting] = Delivery.objects.for_workspace(eu)
    assert (waiting.status, waiting.attempts) == ("pending", 0)

    move(eu, "")
    run_engine()

    assert webhook_ids(platforms) == {"us-1", "before", "during"}


@pytest.mark.django_db
def test_replay_waits_for_a_move_to_end(eu, platforms):
    dead = DeliveryFactory(destination=hook(eu, platforms), status="dead", dead_reason="HTTP 500")
    move(eu, "us")
    eu.refresh_from_db()

    with pytest.raises(ConflictError):
        deliveries_replay(workspace=eu, actor=ACTOR, delivery_ids=[dead.pk])

    dead.refresh_from_db()
    assert dead.status == "dead"


@pytest.mark.django_db
def test_the_api_answers_a_replay_during_a_move_with_409(api_client, eu, make_api_key, platforms):
    dead = DeliveryFactory(destination=hook(eu, platforms), status="dead", dead_reason="HTTP 500")
    token = make_api_key(eu, role=ApiKeyRole.ADMIN)[1]
    move(eu, "us")

    answer = api_client.post(
        "/v1/deliveries/replay",
        {"deliveries": [dead.pk]},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )

    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "conflict"
    dead.refresh_from_db()
    assert dead.status == "dead"


@pytest.mark.django_db
def test_the_delivery_log_and_health_of_an_eu_workspace_come_from_its_region(eu, platforms):
    destination = hook(eu, platforms)
    event = EventFactory(workspace=eu, message_id="eu-order")
    made = DeliveryFactory(destination=destination, event=event, status="dead", dead_reason="x")
    DeliveryAttemptFactory(delivery=made, status_code=500, outcome="failed", error="HTTP 500")
    since = timezone.now() - timedelta(hours=1)

    [listed] = selectors.deliveries_list(workspace=eu, message_id="eu-order", with_attempts=True)
    got = selectors.delivery_get(workspace=eu, delivery_id=made.pk)
    health = selectors.destination_health(workspace=eu, destination=destination, since=since)
    series = selectors.delivery_series(
        workspace=eu, since=since, bucket=timedelta(hours=1), until=timezone.now()
    )

    assert made._state.db == alias_for("eu")
    assert listed.pk == made.pk and listed.destination == destination
    assert [a.status_code for a in listed.attempt_list] == [500]
    assert got.destination.name == destination.name and len(got.attempt_list) == 1
    assert (health.attempts, health.failures, health.dead_letters) == (1, 1, 1)
    assert sum(point.failed for point in series) == 1
    assert deliveries_replay(workspace=eu, actor=ACTOR, destination=destination) == 1
    made.refresh_from_db()
    assert made.status == "pending"


# --- Queues ----------------------------------------------------------------------------------


def test_beat_sweeps_every_region_on_its_own_queue():
    sweeps = {
        entry["kwargs"]["region"]: entry["options"]["queue"]
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if entry["task"] == scheduling.SWEEP_TASK
    }

    assert sweeps == {"us": "region.us", "eu": "region.eu"}


@pytest.mark.django_db
def test_work_is_sent_to_the_queue_of_the_destinations_region(eu, us, platforms, monkeypatch):
    sent = []
    monkeypatch.setattr(
        scheduling.current_app,
        "send_task",
        lambda name, args=None, kwargs=None, queue=None: sent.append((name, args, kwargs, queue)),
    )
    eu_hook, us_hook = hook(eu, platforms), hook(us, platforms)

    scheduling.destination_deliver_enqueue(eu_hook.pk)
    scheduling.destination_deliver_enqueue(us_hook.pk)
    scheduling.deliveries_sweep()  # as a schedule stored before regions calls it

    assert sent == [
        (scheduling.DELIVER_TASK, [eu_hook.pk], None, "region.eu"),
        (scheduling.DELIVER_TASK, [us_hook.pk], None, "region.us"),
        (scheduling.SWEEP_TASK, None, {"region": "us"}, "region.us"),
        (scheduling.SWEEP_TASK, None, {"region": "eu"}, "region.eu"),
    ]


@pytest.mark.django_db
def test_each_workspaces_purge_is_queued_on_its_region(eu, us, monkeypatch):
    queued = []
    monkeypatch.setattr(
        tasks.retention_purge_task,
        "apply_async",
        lambda args, queue: queued.append((args, queue)),
    )
    for workspace in (eu, us):
        event_with_operational_data(workspace, "m-1", timezone.now())

    tasks.events_purge_expired_all()

    assert queued == [([us.pk], "region.us"), ([eu.pk], "region.eu")]


# --- Through real workers --------------------------------------------------------------------


@pytest.fixture
def kicks(settings):
    settings.DELIVERY_KICK = True  # ingestion hands work to the worker at once


@pytest.mark.django_db(transaction=True)
def test_an_eu_and_a_us_workspace_deliver_through_the_worker(
    tmp_path, eu, us, make_api_key, platforms, kicks
):
    eu_hook, us_hook = hook(eu, platforms), hook(us, platforms)

    with celery_worker(tmp_path):
        send_batch(Client(), make_api_key(eu)[1], order("eu-1"), order("eu-2"))
        send_batch(Client(), make_api_key(us)[1], order("us-1"))
        wait_for(lambda: webhook_ids(platforms) == {"eu-1", "eu-2", "us-1"}, message="delivered")

    assert rows(Delivery, alias_for("eu"), destination_id=eu_hook.pk, status="delivered") == 2
    assert rows(Delivery, alias_for("us"), destination_id=us_hook.pk, status="delivered") == 1


@pytest.mark.django_db(transaction=True)
def test_a_worker_of_the_eu_queue_delivers_the_eu_workspace_only(
    tmp_path, eu, us, make_api_key, platforms, kicks
):
    us_hook = hook(us, platforms)
    hook(eu, platforms)

    with celery_worker(tmp_path, queues=[settings.CELERY_REGION_QUEUES["eu"]]):
        send_batch(Client(), make_api_key(us)[1], order("us-1"))
        send_batch(Client(), make_api_key(eu)[1], order("eu-1"))
        wait_for(lambda: webhook_ids(platforms) == {"eu-1"}, message="the EU event delivered")
        time.sleep(3)  # several sweeps: the US event still waits for a worker of its region

    assert webhook_ids(platforms) == {"eu-1"}
    assert Event.objects.for_workspace(us).get(message_id="us-1").fanout_pending

    with celery_worker(tmp_path, queues=[settings.CELERY_REGION_QUEUES["us"]]):
        wait_for(lambda: "us-1" in webhook_ids(platforms), message="a US worker delivers it")

    assert rows(Delivery, alias_for("us"), destination_id=us_hook.pk, status="delivered") == 1


@pytest.mark.django_db(transaction=True)
def test_a_moving_workspace_waits_while_the_worker_delivers_the_others(
    tmp_path, eu, us, make_api_key, platforms, kicks
):
    hook(eu, platforms)
    hook(us, platforms)
    move(eu, "us")
    # Stored before the move began (ingestion answers 503 while it runs), not fanned out yet.
    EventFactory(workspace=eu, message_id="eu-1", fanout_pending=True)

    with celery_worker(tmp_path):
        send_batch(Client(), make_api_key(us)[1], order("us-1"))
        wait_for(lambda: webhook_ids(platforms) == {"us-1"}, message="the US event delivered")
        time.sleep(3)  # several sweeps
        assert webhook_ids(platforms) == {"us-1"}
        assert Event.objects.for_workspace(eu).get(message_id="eu-1").fanout_pending
        move(eu, "")
        wait_for(lambda: "eu-1" in webhook_ids(platforms), message="delivered after the move")
