"""Reads of the audit log, always for one workspace."""

from django.db.models import QuerySet

from audit.chain import ChainBreak, chain_breaks
from audit.models import AuditEntry, AuditLogHead


def audit_entry_list(*, workspace, event_type: str | None = None) -> QuerySet[AuditEntry]:
    """Newest first."""
    entries = AuditEntry.objects.filter(workspace=workspace).order_by("-idx")
    if event_type:
        entries = entries.filter(event_type=event_type)
    return entries


def audit_event_types(*, workspace) -> list[str]:
    return list(
        AuditEntry.objects.filter(workspace=workspace)
        .order_by("event_type")
        .values_list("event_type", flat=True)
        .distinct()
    )


def audit_head(*, workspace) -> AuditLogHead | None:
    return AuditLogHead.objects.filter(workspace=workspace).first()


def audit_chain_breaks(*, workspace) -> list[ChainBreak]:
    """Walk the whole chain in idx order (streamed) and return every break."""
    rows = (
        AuditEntry.objects.filter(workspace=workspace)
        .order_by("idx")
        .values_list("idx", "prev_hash", "hash", "material")
        .iterator(chunk_size=2000)
    )
    return chain_breaks(rows)
