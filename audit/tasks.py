"""Periodic audit work. Thin: the fan-out task lists workspaces, each per-workspace task
re-fetches its workspace by id and calls one service."""

import logging

from celery import shared_task

from audit import export, services
from audit.models import AuditCheckpoint, AuditLogHead
from tracklayer.exceptions import DomainError
from workspaces.actors import SystemActor
from workspaces.models import Workspace

ACTOR = SystemActor("scheduler")
logger = logging.getLogger(__name__)


@shared_task
def audit_checkpoint_sign_all() -> None:
    for workspace_id in AuditLogHead.objects.filter(size__gt=0).values_list(
        "workspace_id", flat=True
    ):
        audit_checkpoint_sign.delay(workspace_id)


@shared_task
def audit_checkpoint_sign(workspace_id: int) -> None:
    services.audit_checkpoint_sign(workspace=Workspace.objects.get(pk=workspace_id), actor=ACTOR)


@shared_task
def audit_verify_all() -> None:
    for workspace_id in AuditLogHead.objects.values_list("workspace_id", flat=True):
        audit_verify.delay(workspace_id)


@shared_task
def audit_verify(workspace_id: int) -> None:
    workspace = Workspace.objects.get(pk=workspace_id)
    if not services.audit_verify_record(workspace=workspace, actor=ACTOR)["recorded"]:
        logger.warning("audit log of %s is locked; daily verification not recorded", workspace)


@shared_task
def audit_export_scheduled(workspace_id: int) -> None:
    """The weekly export; a failure is recorded (in the log and on the settings page)."""
    workspace = Workspace.objects.get(pk=workspace_id)
    try:
        export.audit_export_attempt(workspace=workspace, actor=ACTOR)
    except DomainError as error:
        logger.warning("audit export of %s failed: %s", workspace, error.message)


@shared_task(bind=True, max_retries=6)
def audit_checkpoint_publish(self, checkpoint_id: int) -> None:
    """Hand a checkpoint to the witness; retried with exponential backoff when it fails."""
    checkpoint = AuditCheckpoint.objects.select_related("workspace", "signing_key").get(
        pk=checkpoint_id
    )
    delivery = services.audit_checkpoint_publish(checkpoint=checkpoint)
    if not delivery.ok:
        raise self.retry(countdown=30 * 2**self.request.retries)
