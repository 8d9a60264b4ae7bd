"""The purge's Celery tasks. Their names are ``destinations.tasks.<function>`` (beat's
schedule stores them; destinations/tasks.py imports this module so that a worker registers
them). They run on the default queue: a purge works on every region's database."""

import logging

from celery import shared_task
from django.utils import timezone

from destinations.teardown.purge import workspace_purge
from tracklayer.exceptions import DomainError
from workspaces.actors import SystemActor
from workspaces.models import Workspace
from workspaces.selectors import workspace_purge_due

ACTOR = SystemActor("scheduler")
logger = logging.getLogger(__name__)


@shared_task(name="destinations.tasks.workspaces_purge_due")
def workspaces_purge_due() -> None:
    """Queue the purge of every deleted workspace past its ``purge_after`` (beat, daily). A
    purge that stopped half-way is among them again, and resumes."""
    for workspace_id in workspace_purge_due(now=timezone.now()).values_list("pk", flat=True):
        workspace_purge_run.delay(workspace_id)


@shared_task(name="destinations.tasks.workspace_purge_run", acks_late=True)
def workspace_purge_run(workspace_id: int) -> None:
    """One workspace's purge; a workspace restored or purged since it was queued, or being
    purged by another process, is left alone (the refusal is logged)."""
    workspace = Workspace.objects.filter(pk=workspace_id).first()
    if workspace is None:
        return
    try:
        workspace_purge(workspace=workspace, actor=ACTOR)
    except DomainError as error:
        logger.warning("purge of workspace %s not done: %s", workspace_id, error.message)
