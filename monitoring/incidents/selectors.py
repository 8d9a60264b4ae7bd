"""Reads of incidents: the list (open first), one incident, its timeline, the time in each
phase and the containment target, and the export for the evidence package."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Case, IntegerField, Prefetch, QuerySet, Value, When
from django.utils import timezone

from audit.models import AuditEntry, AuditLogHead, AuditPendingEntry
from monitoring.incidents.models import (
    PHASE_ORDER,
    POSTMORTEM_FIELDS,
    SEVERITY_RANK,
    EventKind,
    Incident,
    IncidentEvent,
    Phase,
)
from tracklayer.exceptions import NotFoundError

# The whitepaper's plan: contained within one hour of detection.
CONTAINMENT_TARGET = dt.timedelta(hours=1)
EXPORT_FORMAT = "tracklayer.incident-export.v1"
# The containment services' own entries, exported beside the incident's.
CONTAINMENT_ENTRY_TYPES = ("destination.paused", "destination.resumed", "api_key.revoked")


def incident_list(
    *, workspace, status: str | None = None, phase: str | None = None, severity: str | None = None
) -> QuerySet[Incident]:
    """The workspace's incidents: open ones first, then the most severe, newest first.
    ``status`` is ``open`` or ``closed``."""
    rows = Incident.objects.filter(workspace=workspace)
    if status == "open":
        rows = rows.exclude(phase=Phase.CLOSED)
    elif status == "closed":
        rows = rows.filter(phase=Phase.CLOSED)
    if phase:
        rows = rows.filter(phase=phase)
    if severity:
        rows = rows.filter(severity=severity)
    return rows.annotate(
        closed_last=Case(
            When(phase=Phase.CLOSED, then=Value(1)), default=Value(0), output_field=IntegerField()
        ),
        severity_rank=Case(
            *(When(severity=value, then=Value(rank)) for value, rank in SEVERITY_RANK.items()),
            output_field=IntegerField(),
        ),
    ).order_by("closed_last", "-severity_rank", "-opened_at", "-pk")


def incident_list_documents(incidents: QuerySet[Incident], *, now=None) -> list[dict]:
    """``incident_document`` of each of ``incidents`` (a slice of ``incident_list``), their
    phase changes loaded in one query rather than one per incident."""
    now = now or timezone.now()
    changes = IncidentEvent.objects.filter(kind=EventKind.PHASE_CHANGED).order_by("at", "pk")
    rows = incidents.prefetch_related(Prefetch("events", queryset=changes, to_attr="phase_changes"))
    return [incident_document(row, timeline=row.phase_changes, now=now) for row in rows]


def incident_open_count(*, workspace) -> int:
    return Incident.objects.filter(workspace=workspace).exclude(phase=Phase.CLOSED).count()


def incident_get(*, workspace, public_id: str) -> Incident:
    incident = (
        Incident.objects.filter(workspace=workspace, public_id=public_id)
        .select_related("workspace")
        .first()
    )
    if incident is None:
        raise NotFoundError("No such incident in this workspace.")
    return incident


def incident_timeline(*, incident: Incident) -> list[IncidentEvent]:
    return list(incident.events.order_by("at", "pk"))


@dataclass(frozen=True)
class ContainmentTarget:
    """``met`` (contained within the hour), ``missed`` (contained late, or not contained and
    the hour is over) or ``remaining`` (``seconds`` left)."""

    status: str
    deadline: dt.datetime
    seconds: int  # remaining: left; met/missed: how long containment took (or has taken)


def containment_target(incident: Incident, *, now: dt.datetime | None = None) -> ContainmentTarget:
    now = now or timezone.now()
    deadline = incident.opened_at + CONTAINMENT_TARGET
    if incident.contained_at is not None:
        took = int((incident.contained_at - incident.opened_at).total_seconds())
        status = "met" if incident.contained_at <= deadline else "missed"
        return ContainmentTarget(status, deadline, took)
    if now > deadline:
        taking = int((now - incident.opened_at).total_seconds())
        return ContainmentTarget("missed", deadline, taking)
    return ContainmentTarget("remaining", deadline, int((deadline - now).total_seconds()))


def phase_durations(
    incident: Incident, *, timeline: list[IncidentEvent] | None = None, now=None
) -> dict[str, int]:
    """Seconds spent in each phase (a phase entered twice counts both stays), from the
    timeline's phase changes; the current phase counts up to now (closed counts nothing)."""
    now = now or timezone.now()
    events = timeline if timeline is not None else incident_timeline(incident=incident)
    spent = dict.fromkeys(PHASE_ORDER[:-1], 0)
    phase, since = Phase.DETECT.value, incident.opened_at
    for event in events:
        if event.kind != EventKind.PHASE_CHANGED:
            continue
        if phase in spent:
            spent[phase] += max(0, int((event.at - since).total_seconds()))
        phase, since = event.detail.get("to", phase), event.at
    if phase in spent:
        spent[phase] += max(0, int((now - since).total_seconds()))
    return spent


def incident_export(*, workspace, public_id: str) -> dict:
    """The incident, its timeline and its audit entries' indexes and hashes — for the
    evidence package, and for an auditor to check against the signed log (docs/monitoring.md,
    "Incidents" → "Export"). Entries still queued under the advisory lock are listed as
    pending (no index or hash yet)."""
    incident = incident_get(workspace=workspace, public_id=public_id)
    timeline = incident_timeline(incident=incident)
    now = timezone.now()
    head = AuditLogHead.objects.filter(workspace=workspace).first()
    own = AuditEntry.objects.filter(
        workspace=workspace, resource_type="incident", resource_id=incident.public_id
    )
    targets = _containment_targets(timeline)
    window = AuditEntry.objects.filter(
        workspace=workspace,
        event_type__in=CONTAINMENT_ENTRY_TYPES,
        resource_id__in=targets,
        timestamp__gte=incident.opened_at,
    )
    if incident.closed_at is not None:
        # Up to its close — or to its last timeline row, when "resume those" came after it.
        until = max([incident.closed_at, *(event.at for event in timeline[-1:])])
        window = window.filter(timestamp__lte=until)
    pending = AuditPendingEntry.objects.filter(
        workspace=workspace, resource_type="incident", resource_id=incident.public_id
    ).order_by("seq")
    return {
        "format": EXPORT_FORMAT,
        "workspace_id": workspace.public_id,
        "exported_at": _time(now),
        "incident": incident_document(incident, timeline=timeline, now=now, full=False),
        "postmortem": {field: getattr(incident, field) for field in POSTMORTEM_FIELDS},
        "timeline": [_event_document(event) for event in timeline],
        "audit": {
            "origin": head.origin if head else None,
            "tree_size": head.size if head else 0,
            "entries": [_entry_document(entry) for entry in own.order_by("idx")],
            "containment_entries": [_entry_document(entry) for entry in window.order_by("idx")],
            "pending": [
                {
                    "seq": row.seq,
                    "event_type": row.event_type,
                    "actor": row.actor,
                    "timestamp": _time(row.timestamp),
                }
                for row in pending
            ],
        },
    }


def incident_document(incident: Incident, *, timeline=None, now=None, full: bool = False):
    """The incident as the API shows it; ``full`` adds the post-mortem and the timeline."""
    now = now or timezone.now()
    if full and timeline is None:
        timeline = incident_timeline(incident=incident)
    target = containment_target(incident, now=now)
    document = {
        "id": incident.public_id,
        "title": incident.title,
        "severity": incident.severity,
        "phase": incident.phase,
        "status": "closed" if incident.phase == Phase.CLOSED else "open",
        "opened_at": _time(incident.opened_at),
        "opened_by": incident.opened_by,
        "source": {"kind": incident.source_kind, "ids": list(incident.source_ids)},
        "subject": incident.subject,
        "contained_at": _time(incident.contained_at),
        "eradicated_at": _time(incident.eradicated_at),
        "reviewed_at": _time(incident.reviewed_at),
        "closed_at": _time(incident.closed_at),
        "containment_target": {
            "status": target.status,
            "deadline": _time(target.deadline),
            "seconds": target.seconds,
        },
        "time_in_phase": phase_durations(incident, timeline=timeline, now=now),
        "paused_destinations": list(incident.paused_destinations),
        "postmortem_complete": all(getattr(incident, f).strip() for f in POSTMORTEM_FIELDS),
    }
    if full:
        document["postmortem"] = {field: getattr(incident, field) for field in POSTMORTEM_FIELDS}
        document["timeline"] = [_event_document(event) for event in timeline]
    return document


def _containment_targets(timeline: list[IncidentEvent]) -> list[str]:
    found: list[str] = []
    for event in timeline:
        if event.kind in (EventKind.CONTAINMENT_ACTION, EventKind.CONTAINMENT_UNDONE):
            found.extend(event.detail.get("destinations", []))
            if event.detail.get("api_key"):
                found.append(event.detail["api_key"])
    return list(dict.fromkeys(found))


def _event_document(event: IncidentEvent) -> dict:
    return {
        "at": _time(event.at),
        "actor": event.actor,
        "kind": event.kind,
        "note": event.note,
        "detail": event.detail,
    }


def _entry_document(entry: AuditEntry) -> dict:
    return {
        "idx": entry.idx,
        "event_id": entry.public_id,
        "event_type": entry.event_type,
        "resource_type": entry.resource_type,
        "resource_id": entry.resource_id,
        "actor": entry.actor,
        "timestamp": _time(entry.timestamp),
        "hash": entry.hash_hex,
    }


def _time(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat()
