"""Delivery through a real Celery worker and broker, against the local platform servers:
exact payloads, consent, crashes, a lost broker, a 5xx storm with auto-pause, dead letters,
and a dead destination beside a healthy one. Secrets never show up in logs or audit rows."""

import json
import time

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.test import Client

from audit.models import AuditEntry
from destinations.models import Delivery, DeliveryAttempt, Destination, Event
from destinations.routing.services import deliveries_replay, destination_resume
from tests.destinations.factories import SECRETS, DestinationFactory
from tests.destinations.helpers import CONSENTED, data_count, local, order, send_batch
from tests.destinations.worker import celery_worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def token(token, settings):
    settings.DELIVERY_KICK = True  # ingestion hands work to the worker at once
    return token


def send(token, *events):
    return send_batch(Client(), token, *events)


def statuses(workspace, destination=None) -> dict:
    """How many of the workspace's deliveries (to ``destination``) are in each status."""
    rows = Delivery.objects.for_workspace(workspace)
    if destination is not None:
        rows = rows.filter(destination=destination)
    counts: dict = {}
    for status in rows.values_list("status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    return counts


def webhook_ids(platforms) -> list[str]:
    return [event["messageId"] for event in platforms.received("webhook")]


def test_ingest_to_delivery_through_the_worker(tmp_path, workspace, token, platforms):
    made = {
        kind: DestinationFactory(workspace=workspace, type=kind, config=local(kind, platforms))
        for kind in ("meta_capi", "tiktok_events", "ga4_mp", "webhook")
    }
    blocked = {**CONSENTED, "consent": {"gpc": True}, "location": {"country": "US", "region": "CA"}}

    with celery_worker(tmp_path) as worker:
        send(token, order("w-1"), order("w-blocked", context=blocked))
        wait_for(
            lambda: (
                statuses(workspace).get("pending", 0) == 0
                and Delivery.objects.for_workspace(workspace).count() == 8
            ),
            message="every delivery settled",
        )

    assert [e["event_id"] for e in platforms.received("meta")] == ["w-1"]
    assert [e["event_id"] for e in platforms.received("tiktok")] == ["w-1"]
    # GPC in California opts out of sale and sharing: Meta and TikTok are blocked; GA4
    # (measurement, not a sale by default) and the customer's own webhook still get it.
    assert [e["name"] for e in platforms.received("ga4")] == ["purchase", "purchase"]
    assert sorted(webhook_ids(platforms)) == ["w-1", "w-blocked"]
    assert statuses(workspace) == {"delivered": 6, "blocked": 2}
    assert Delivery.objects.for_workspace(workspace).get(
        event__message_id="w-blocked", destination_id=made["meta_capi"].pk
    ).decision == {"action": "block", "reasons": ["gpc_opt_out"]}
    for secret in (value for kind in SECRETS.values() for value in kind.values()):
        assert secret not in worker.log


def test_a_worker_killed_mid_batch_loses_nothing(tmp_path, workspace, token, platforms):
    destination = DestinationFactory(
        workspace=workspace, type="webhook", config=local("webhook", platforms)
    )
    Destination.objects.filter(pk=destination.pk).update(
        config={**destination.config, "batch_size": 5}
    )
    platforms.behave("webhook", delay=0.5)
    ids = [f"k-{i}" for i in range(40)]

    with celery_worker(tmp_path, concurrency=2) as worker:
        send(token, *[order(message_id) for message_id in ids])
        wait_for(lambda: len(webhook_ids(platforms)) >= 5, message="the first batch arrived")
        worker.kill()
    delivered_before_restart = len(set(webhook_ids(platforms)))
    with celery_worker(tmp_path, concurrency=2):
        wait_for(
            lambda: statuses(workspace, destination) == {"delivered": 40},
            timeout=60,
            message="all delivered after the restart",
        )

    assert delivered_before_restart < 40
    # At least once: every event arrived; a batch cut off by the kill may arrive twice, and
    # carries the same idempotency key when it does.
    assert set(webhook_ids(platforms)) == set(ids)


def test_a_lost_broker_queue_loses_nothing(tmp_path, workspace, token, platforms):
    destination = DestinationFactory(
        workspace=workspace, type="webhook", config=local("webhook", platforms)
    )
    platforms.behave("webhook", delay=0.3)
    ids = [f"r-{i}" for i in range(30)]

    with celery_worker(tmp_path, concurrency=2):
        send(token, *[order(message_id) for message_id in ids[:15]])
        # Redis restarts without persistence: every queued task is gone.
        redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
        send(token, *[order(message_id) for message_id in ids[15:]])
        redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
        wait_for(
            lambda: statuses(workspace, destination) == {"delivered": 30},
            timeout=60,
            message="the sweep found everything the broker lost",
        )

    assert set(webhook_ids(platforms)) == set(ids)


def test_a_5xx_storm_pauses_the_destination_and_resume_delivers(
    tmp_path, workspace, token, platforms, admin_user
):
    destination = DestinationFactory(
        workspace=workspace, type="webhook", config=local("webhook", platforms)
    )
    Destination.objects.filter(pk=destination.pk).update(
        autopause_min_attempts=3, config={**destination.config, "batch_size": 1}
    )
    platforms.behave("webhook", mode="error", status=503)

    with celery_worker(tmp_path):
        send(token, *[order(f"s-{i}") for i in range(6)])
        wait_for(
            lambda: Destination.objects.get(pk=destination.pk).state == "paused",
            message="auto-paused",
        )
        paused = Destination.objects.get(pk=destination.pk)
        assert statuses(workspace, destination) == {"pending": 6}  # waiting, not lost
        platforms.behave("webhook", mode="ok")
        destination_resume(workspace=workspace, actor=admin_user, destination=paused)
        Delivery.objects.for_workspace(workspace).filter(destination=destination).update(
            next_attempt_at=paused.paused_at
        )
        wait_for(
            lambda: statuses(workspace, destination) == {"delivered": 6},
            timeout=60,
            message="delivered after resume",
        )

    assert "attempts failed" in paused.paused_reason or "failed" in paused.paused_reason
    entry = AuditEntry.objects.get(workspace=workspace, event_type="destination.paused")
    assert json.loads(bytes(entry.material))["payload"]["automatic"] is True
    assert (
        DeliveryAttempt.objects.for_workspace(workspace)
        .filter(destination=destination, outcome="retry")
        .exists()
    )


def test_dead_letters_are_replayed_through_the_worker(
    tmp_path, workspace, token, platforms, admin_user
):
    destination = DestinationFactory(
        workspace=workspace, type="webhook", config=local("webhook", platforms)
    )
    platforms.behave("webhook", mode="error", status=400)  # a permanent refusal

    with celery_worker(tmp_path):
        send(token, order("dl-1"), order("dl-2"))
        wait_for(lambda: statuses(workspace, destination) == {"dead": 2}, message="dead-lettered")
        platforms.behave("webhook", mode="ok")
        replayed = deliveries_replay(workspace=workspace, actor=admin_user, destination=destination)
        wait_for(lambda: statuses(workspace, destination) == {"delivered": 2}, message="replayed")

    assert replayed == 2
    assert sorted(webhook_ids(platforms)) == ["dl-1", "dl-2"]


def test_a_dead_destination_does_not_hold_up_a_healthy_one(tmp_path, workspace, token, platforms):
    """How fast the healthy one delivers beside a dead one is measured by ``make bench``
    (tests/bench/delivery.py); here: it delivers everything, each at the first attempt,
    while every request to the dead one is left unanswered."""
    healthy = DestinationFactory(
        workspace=workspace, type="webhook", config=local("webhook", platforms)
    )
    dead = DestinationFactory(
        workspace=workspace, type="meta_capi", config=local("meta_capi", platforms)
    )
    platforms.behave("meta", mode="timeout")  # answers nothing within the 2 s client timeout

    with celery_worker(tmp_path, concurrency=8):
        for round_ in range(5):
            send(token, *[order(f"h-{round_}-{i}") for i in range(4)])
            time.sleep(0.5)
        wait_for(
            lambda: statuses(workspace, healthy) == {"delivered": 20},
            timeout=30,
            message="the healthy destination kept delivering",
        )

    attempts = (
        Delivery.objects.for_workspace(workspace)
        .filter(destination=healthy)
        .values_list("attempts", flat=True)
    )
    assert set(attempts) == {1}
    assert statuses(workspace, dead).get("delivered", 0) == 0
    assert (
        DeliveryAttempt.objects.for_workspace(workspace)
        .filter(destination=dead, status_code__isnull=True)
        .exists()
    )


def test_secrets_never_reach_audit_rows(tmp_path, workspace, token, platforms):
    DestinationFactory(workspace=workspace, type="meta_capi", config=local("meta_capi", platforms))
    with connection.cursor() as cursor:
        cursor.execute("SELECT material FROM audit_auditentry")
        material = b"".join(bytes(row[0]) for row in cursor.fetchall()).decode()

    assert SECRETS["meta_capi"]["access_token"] not in material
    assert data_count(Event) == 0
