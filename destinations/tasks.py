"""Periodic ingestion work. Thin: list workspaces, re-fetch each by id, call one service."""

from celery import shared_task

from audit.actors import SystemActor
from destinations import services
from destinations.models import EventMessageId, EventOperational
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
