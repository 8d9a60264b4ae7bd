"""Celery tasks of the destinations app. Thin: re-fetch by id, call one service. Their names
(``destinations.tasks.<function>``) are stored in beat's schedule and named by
``destinations.delivery.scheduling``: keep them."""

from celery import shared_task

from destinations.delivery import scheduling
from destinations.ingestion import services
from destinations.models import EventMessageId, EventOperational
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


@shared_task
def events_fanout_task() -> None:
    scheduling.events_fanout_rounds()


@shared_task
def destination_deliver_task(destination_id: int) -> None:
    scheduling.destination_deliver_queued(destination_id)


@shared_task
def deliveries_sweep() -> None:
    scheduling.deliveries_sweep()
