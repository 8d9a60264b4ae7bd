"""The audit log's only writer.

``audit_record`` is called by every service that changes something an auditor cares about,
inside that service's transaction: the change and its entry commit together or not at all.
"""

from django.conf import settings
from django.db import connection
from django.utils import timezone

from audit.actors import actor_ref
from audit.canonical import canonical_json, rfc3339
from audit.chain import entry_hash
from audit.exceptions import AuditError
from audit.models import AuditEntry, AuditLogHead

MATERIAL_VERSION = 1


def audit_log_open(*, workspace) -> AuditLogHead:
    """Create the workspace's empty log (idempotent). Its origin never changes afterwards."""
    AuditLogHead.objects.bulk_create(
        [AuditLogHead(workspace=workspace, origin=_origin_for(workspace))],
        ignore_conflicts=True,
    )
    return AuditLogHead.objects.get(workspace=workspace)


def _origin_for(workspace) -> str:
    return f"{settings.TRACKLAYER_AUDIT_ORIGIN}/{workspace.public_id}"


def audit_record(
    *,
    workspace,
    actor,
    event_type: str,
    resource_type: str,
    resource_id: str,
    payload: dict | None = None,
) -> AuditEntry:
    """Append one entry to ``workspace``'s log, inside the caller's transaction.

    Guarantees: entries get idx 0, 1, 2, … with no gaps; each links to the previous by hash;
    appends to one workspace are serialised by a row lock on its log head, while different
    workspaces never wait on each other; a payload that cannot be written canonically raises
    ``AuditPayloadError`` before anything is stored.
    """
    if not connection.in_atomic_block:
        raise AuditError("audit_record must run inside the transaction of the change it records")
    head = AuditLogHead.objects.select_for_update().filter(workspace=workspace).first()
    if head is None:
        audit_log_open(workspace=workspace)
        head = AuditLogHead.objects.select_for_update().get(workspace=workspace)

    now = timezone.now()
    actor_name = actor_ref(actor)
    material = canonical_json(
        {
            "v": MATERIAL_VERSION,
            "origin": head.origin,
            "idx": head.size,
            "event_type": event_type,
            "resource_type": resource_type,
            "resource_id": resource_id,
            "actor": actor_name,
            "timestamp": rfc3339(now),
            "payload": payload or {},
        }
    )
    prev_hash = None if head.head_hash is None else bytes(head.head_hash)
    digest = entry_hash(prev_hash, material)
    entry = AuditEntry.objects.create(
        workspace=workspace,
        idx=head.size,
        prev_hash=prev_hash,
        hash=digest,
        material=material,
        event_type=event_type,
        resource_type=resource_type,
        resource_id=resource_id,
        actor=actor_name,
        timestamp=now,
    )
    AuditLogHead.objects.filter(pk=head.pk).update(
        size=head.size + 1, head_hash=digest, updated_at=now
    )
    return entry
