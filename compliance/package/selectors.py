"""Reads for the auditor package's page: the packages built (from the audit log, the record
of them) and what a package built now would hold."""

import datetime as dt
from dataclasses import dataclass

from audit.selectors import (
    audit_actor_names,
    audit_checkpoint_latest,
    audit_entry_list,
    audit_entry_material,
    audit_head,
    audit_verifier_key,
)
from destinations.retention.selectors import retention_overview
from monitoring.incidents.models import Incident
from privacy.models import DataSubjectRequest, RequestStatus

#: The audit entry of a package built (compliance.package.services).
EVENT_TYPE = "evidence.package_built"
HISTORY_SHOWN = 20


@dataclass(frozen=True)
class BuiltRecord:
    idx: int
    package_id: str
    actor: str
    actor_name: str  # the member's or key's name (audit_actor_names), else the id
    timestamp: dt.datetime
    manifest_sha256: str
    files: int
    tree_size: int


def package_history(*, workspace, limit: int = HISTORY_SHOWN) -> list[BuiltRecord]:
    """The last packages built, newest first, as the audit log records them."""
    records = []
    entries = list(audit_entry_list(workspace=workspace, event_type=EVENT_TYPE)[:limit])
    names = audit_actor_names(workspace=workspace, actors=[entry.actor for entry in entries])
    for entry in entries:
        material = audit_entry_material(entry)
        payload = material.get("payload") or {}
        records.append(
            BuiltRecord(
                idx=entry.idx,
                package_id=entry.resource_id,
                actor=entry.actor,
                actor_name=names.get(entry.actor, entry.actor),
                timestamp=entry.timestamp,
                manifest_sha256=str(payload.get("manifest_sha256", "")),
                files=int(payload.get("files", 0)),
                tree_size=int(payload.get("tree_size", 0)),
            )
        )
    return records


@dataclass(frozen=True)
class PackagePreview:
    """What a package built now would hold, in figures."""

    audit_entries: int
    last_checkpoint_size: int | None
    verifier_key: str | None
    incidents: int
    requests: int
    receipts: int
    retention_windows: dict


def package_preview(*, workspace) -> PackagePreview:
    head = audit_head(workspace=workspace)
    checkpoint = audit_checkpoint_latest(workspace=workspace)
    requests = DataSubjectRequest.objects.filter(workspace=workspace)
    overview = retention_overview(workspace=workspace)
    return PackagePreview(
        audit_entries=head.size if head else 0,
        last_checkpoint_size=checkpoint.size if checkpoint else None,
        verifier_key=audit_verifier_key(workspace=workspace),
        incidents=Incident.objects.filter(workspace=workspace).count(),
        requests=requests.count(),
        receipts=requests.filter(status=RequestStatus.COMPLETED, audit_idx__isnull=False).count(),
        retention_windows={
            "events": overview.events_days,
            "operational": overview.operational_days,
            "deliveries": overview.delivery_days,
        },
    )
