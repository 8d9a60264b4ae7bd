"""Periodic audit work. Thin: the fan-out task lists workspaces, each per-workspace task
re-fetches its workspace by id and calls one service."""

import logging

from celery import shared_task

from audit import export, services
from audit.models import AuditLogHead

# The witness task ("audit.tasks.audit_checkpoint_publish", queued by audit_checkpoint_sign)
# is defined with the service it runs, in audit.witness, so that services need not import this
# module; imported here so that every audit task is registered where this module is.
from audit.witness import audit_checkpoint_publish_task  # noqa: F401
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
    # A purged workspace's log is closed, ``workspace.purged`` last: verified on demand only.
    heads = AuditLogHead.objects.filter(workspace__purged_at__isnull=True)
    for workspace_id in heads.values_list("workspace_id", flat=True):
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
