"""The engine's automatic pause of a destination whose error rate crossed its threshold: acted
by ``system:delivery``, audited in the same transaction, explained on the dashboard. The
control plane's pause and resume (``destinations.routing.services``) are the operator's."""

import logging

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from destinations.models import Destination, DestinationState
from destinations.routing.validation import REASON_MAX, auditable
from workspaces.actors import SystemActor

log = logging.getLogger(__name__)


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0 and seconds >= 3600:
        hours = seconds // 3600
        return f"{hours} hour{'s' if hours != 1 else ''}"
    if seconds % 60 == 0:
        minutes = seconds // 60
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds} seconds"


def autopause_reason(figures: dict) -> str:
    """The sentence the dashboard shows for an automatic pause, from the engine's figures
    (``failed_requests``/``requests`` or ``failures``/``attempts``, ``window_seconds``)."""
    if "requests" in figures:
        failed, total, unit = figures.get("failed_requests", 0), figures["requests"], "requests"
    else:
        failed, total, unit = figures.get("failures", 0), figures.get("attempts", 0), "attempts"
    text = f"Paused automatically: {failed} of {total} {unit} failed"
    if total:
        text += f" ({round(100 * failed / total)} %)"
    window = figures.get("window_seconds")
    if isinstance(window, int) and window > 0:
        text += f" in the last {_duration(window)}"
    return text + "."


@transaction.atomic
def destination_autopause(*, destination: Destination, figures: dict) -> bool:
    """The delivery engine's pause of a destination whose error rate crossed its threshold:
    acted by ``system:delivery``, audited as ``destination.paused`` with ``automatic: true``
    and the figures, and explained on the dashboard. Returns False (and does nothing) when the
    destination is already paused or was deleted meanwhile — two workers may both see the
    threshold crossed. Under an advisory lock it raises like every audited change."""
    row = (
        Destination.objects.select_for_update()
        .filter(pk=destination.pk, deleted_at__isnull=True)
        .select_related("workspace")
        .first()
    )
    if row is None or row.state == DestinationState.PAUSED:
        return False
    row.state = DestinationState.PAUSED
    row.paused_at = timezone.now()
    row.paused_automatically = True
    row.paused_reason = autopause_reason(figures)[:REASON_MAX]
    row.save(
        update_fields=["state", "paused_at", "paused_automatically", "paused_reason", "updated_at"]
    )
    audit_record(
        workspace=row.workspace,
        actor=SystemActor("delivery"),
        event_type="destination.paused",
        resource_type="destination",
        resource_id=row.public_id,
        payload=auditable({**figures, "automatic": True, "reason": row.paused_reason}),
    )
    log.warning("destination %s paused automatically: %s", row.public_id, row.paused_reason)
    return True
