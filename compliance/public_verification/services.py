"""Turning public verification on and off (admins: ``AUDIT_SETTINGS``).

Guarantees: each change writes one audit entry (``public_verification.enabled`` /
``.disabled``) in the transaction of the change; setting the state it already has changes
nothing and writes nothing. Neither event type is in ``audit.advisory.QUEUED_WHILE_LOCKED``:
under an advisory lock both are refused (``AuditLockedError``) and nothing changes — a lock
is for a suspected compromise, when neither publishing more nor hiding the proofs should
happen without the key holder.
"""

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from compliance.public_verification.models import PublicVerification
from workspaces import policy
from workspaces.models import User
from workspaces.policy import Action


@transaction.atomic
def public_verification_set(*, workspace, actor, enabled: bool) -> PublicVerification:
    """Switch public verification of ``workspace``'s audit log on or off."""
    policy.authorize(workspace=workspace, actor=actor, action=Action.AUDIT_SETTINGS)
    PublicVerification.objects.get_or_create(workspace=workspace)
    row = PublicVerification.objects.select_for_update().get(workspace=workspace)
    if row.enabled == bool(enabled):
        return row
    row.enabled = bool(enabled)
    if row.enabled:
        row.enabled_at = timezone.now()
        row.enabled_by = actor if isinstance(actor, User) else None
    row.save()
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type=f"public_verification.{'enabled' if row.enabled else 'disabled'}",
        resource_type="workspace",
        resource_id=workspace.public_id,
        payload={"enabled": row.enabled},
    )
    return row
