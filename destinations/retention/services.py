"""Changing a workspace's retention windows (admins only: retention is a compliance promise).

The windows live on ``IngestionSettings`` beside the other ingestion limits, so a change is
audited as theirs is: ``ingestion.settings_updated`` with each change's before and after.
"""

from django.db import transaction

from audit.services import audit_record
from destinations.ingestion.runtime import runtime_forget
from destinations.models import IngestionSettings
from tracklayer.exceptions import DomainError
from workspaces import policy

# (lowest, highest) in days. IP address and user agent: at most 30 (0 = gone at the next purge).
RETENTION_BOUNDS = {
    "events_retention_days": (1, 3650),
    "delivery_retention_days": (1, 3650),
    "operational_retention_days": (0, 30),
}


def _check(name: str, value) -> None:
    if name not in RETENTION_BOUNDS:
        raise DomainError(f"Unknown retention window {name!r}.", field=name)
    low, high = RETENTION_BOUNDS[name]
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise DomainError(f"Give a whole number of days from {low:,} to {high:,}.", field=name)


@transaction.atomic
def retention_windows_update(*, workspace, actor, values: dict) -> IngestionSettings:
    """Set some of the workspace's retention windows (``RETENTION_BOUNDS``). Nothing changes
    unless every value is valid; the first bad one is named (``DomainError.field``)."""
    policy.authorize(workspace=workspace, actor=actor, action=policy.Action.WORKSPACE_UPDATE)
    for name, value in values.items():
        _check(name, value)
    current, _ = IngestionSettings.objects.select_for_update().get_or_create(workspace=workspace)
    changes = {}
    for name, value in values.items():
        if getattr(current, name) != value:
            changes[name] = {"before": getattr(current, name), "after": value}
            setattr(current, name, value)
    if changes:
        current.save(update_fields=[*changes, "updated_at"])
        audit_record(
            workspace=workspace,
            actor=actor,
            event_type="ingestion.settings_updated",
            resource_type="ingestion_settings",
            resource_id=workspace.public_id,
            payload={"changes": changes},
        )
        transaction.on_commit(lambda: runtime_forget(workspace.pk))
    return current
