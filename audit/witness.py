"""Handing signed checkpoints to the workspace's witness.

The service and its Celery task live together, below ``audit.services``: signing a checkpoint
(``audit.services.audit_checkpoint_sign``) queues the task after commit, and the task calls
only the publication here — so services never import ``audit.tasks`` (which imports them).
The task keeps the name it had in ``audit.tasks``, so messages already queued still run.
"""

from celery import shared_task

from audit.models import AuditCheckpoint, AuditExportConfig, AuditWitnessDelivery
from tracklayer import http


def audit_checkpoint_publish(*, checkpoint: AuditCheckpoint) -> AuditWitnessDelivery:
    """POST the signed note (text/plain) to the workspace's witness URL and record the
    attempt. The witness keeps it: a later rewrite of history contradicts what it holds."""
    config = AuditExportConfig.objects.get(workspace_id=checkpoint.workspace_id)
    result = http.post(
        config.witness_url,
        checkpoint.note.encode(),
        headers={
            "Content-Type": "text/plain; charset=utf-8",
            "X-TrackLayer-Workspace": checkpoint.workspace.public_id,
            "X-Verifier-Key": checkpoint.signing_key.verifier_key,
        },
    )
    return AuditWitnessDelivery.objects.create(
        checkpoint=checkpoint,
        url=config.witness_url,
        status_code=result.status,
        ok=result.ok,
        error=result.error,
    )


@shared_task(bind=True, max_retries=6, name="audit.tasks.audit_checkpoint_publish")
def audit_checkpoint_publish_task(self, checkpoint_id: int) -> None:
    """Hand a checkpoint to the witness; retried with exponential backoff when it fails."""
    checkpoint = AuditCheckpoint.objects.select_related("workspace", "signing_key").get(
        pk=checkpoint_id
    )
    delivery = audit_checkpoint_publish(checkpoint=checkpoint)
    if not delivery.ok:
        raise self.retry(countdown=30 * 2**self.request.retries)
