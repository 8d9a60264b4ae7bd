"""Periodic ingestion work. Thin: list workspaces, re-fetch each by id, call one service."""

from celery import shared_task

from destinations import delivery
from destinations.ingestion import services
from destinations.models import Event, EventMessageId, EventOperational
from tracklayer.redis_client import key_prefix, redis_client
from workspaces.actors import SystemActor
from workspaces.models import Workspace

ACTOR = SystemActor("scheduler")


@shared_task
def events_purge_expired_all() -> None:
    workspace_ids = set(EventOperational.objects.values_list("workspace_id", flat=True).distinct())
    workspace_ids |= set(EventMessageId.objects.values_list("workspace_id", flat=True).distinct())
    for workspace_id in sorted(workspace_ids):
        events_purge_expired.delay(workspace_id)


@shared_task
def events_purge_expired(workspace_id: int) -> None:
    services.events_purge_expired(workspace=Workspace.objects.get(pk=workspace_id), actor=ACTOR)


# --- Delivery (docs/delivery.md) ------------------------------------------------------------------

FANOUT_ROUNDS = 50  # events per task: up to 50 × 1,000; the sweep continues from there


def destination_deliver_enqueue(destination_id: int) -> None:
    """Queue one delivery task for a destination unless one is queued already."""
    if redis_client().set(f"{key_prefix()}:deliver-queued:{destination_id}", 1, nx=True, ex=30):
        destination_deliver_task.delay(destination_id)


@shared_task
def events_fanout_task() -> None:
    touched: set[int] = set()
    for _ in range(FANOUT_ROUNDS):
        count, destination_ids = delivery.events_fanout()
        touched |= destination_ids
        if count < delivery.FANOUT_BATCH:
            break
    for destination_id in sorted(touched):
        destination_deliver_enqueue(destination_id)


@shared_task
def destination_deliver_task(destination_id: int) -> None:
    redis_client().delete(f"{key_prefix()}:deliver-queued:{destination_id}")
    result = delivery.destination_deliver(destination_id=destination_id)
    if result.more or (result.claimed and not result.busy and delivery.has_due(destination_id)):
        destination_deliver_enqueue(destination_id)


@shared_task
def deliveries_sweep() -> None:
    """The safety net: whatever the broker lost (a Redis restart, a killed worker) is in the
    database, and this finds it every few seconds."""
    if Event.objects.filter(fanout_pending=True).exists():
        events_fanout_task.delay()
    for destination_id in delivery.due_destination_ids():
        destination_deliver_enqueue(destination_id)
