"""The workspace's MFA policy. Enforced by the dashboard's gate (workspaces/dashboard.py)."""

from django.db import transaction

from audit.services import audit_record
from workspaces import policy
from workspaces.models import Workspace
from workspaces.policy import Action


@transaction.atomic
def mfa_policy_set(*, workspace: Workspace, actor, required: bool) -> Workspace:
    """Require (or stop requiring) MFA for the workspace's password sign-ins. Audited as
    ``workspace.mfa_policy_changed``; setting the value it already has changes and records
    nothing."""
    policy.authorize(workspace=workspace, actor=actor, action=Action.SECURITY_SETTINGS)
    workspace = Workspace.objects.select_for_update().get(pk=workspace.pk)
    required = bool(required)
    if workspace.mfa_required == required:
        return workspace
    before = workspace.mfa_required
    workspace.mfa_required = required
    workspace.save(update_fields=["mfa_required", "updated_at"])
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="workspace.mfa_policy_changed",
        resource_type="workspace",
        resource_id=workspace.public_id,
        payload={"mfa_required": {"before": before, "after": required}},
    )
    return workspace
