"""Incidents: open (automatically or by hand), move through detect → contain → eradicate →
review → closed, take containment actions, write the post-mortem. Keyword-only; the
workspace and the actor come first.

Guarantees: every change is on the incident's timeline and in the audit log, in one
transaction with the change (a containment action's own service — ``destination_pause``,
``api_key_revoke`` — writes its own entry in that same transaction); no audit payload and no
timeline ``detail`` carries what people wrote (titles, notes and the post-mortem are
referred to by SHA-256 and length); automatic incidents are one open incident per subject.
"""

from __future__ import annotations

import hashlib

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_record
from destinations.models import DestinationState
from destinations.routing import selectors as routing_selectors
from destinations.routing.services import destination_pause, destination_resume
from monitoring.incidents.exceptions import IncidentInvalidError, invalid
from monitoring.incidents.models import (
    PHASE_ORDER,
    POSTMORTEM_FIELDS,
    SEVERITY_RANK,
    EventKind,
    Incident,
    IncidentEvent,
    Phase,
    Severity,
    SourceKind,
)
from tracklayer.exceptions import ConflictError, NotFoundError
from workspaces import policy
from workspaces.actors import SystemActor, actor_ref
from workspaces.policy import Action
from workspaces.services import api_key_revoke

SYSTEM = SystemActor("incidents")
# Acting on an incident: editors and admins; revoking a key also needs API_KEY_MANAGE, which
# ``api_key_revoke`` asks for itself.
EDIT_ACTION = Action.OPERATIONS_EDIT
VIEW_ACTION = Action.WORKSPACE_VIEW

TITLE_MAX = 200
SUBJECT_MAX = 200
SOURCE_ID_MAX = 64
NOTE_MAX = 4_000
POSTMORTEM_MAX = 20_000
AUTOMATIC = (SourceKind.ANOMALY, SourceKind.AUTO_PAUSE)

# What must go on while the workspace's log is under the advisory lock (their entries queued):
# recording an incident and containing it only narrow what the workspace does, and a
# suspected compromise is exactly when they are needed. Moving phases, the post-mortem and
# resuming egress stay refused. ``audit.advisory.QUEUED_WHILE_LOCKED`` holds incident.opened,
# .source_linked, .note_added and .containment_action, and the containment services' own
# destination.paused and api_key.revoked; the tests check that it does.

# The timestamp a phase sets when the incident enters it.
PHASE_TIMESTAMP = {
    Phase.CONTAIN: "contained_at",
    Phase.ERADICATE: "eradicated_at",
    Phase.REVIEW: "reviewed_at",
    Phase.CLOSED: "closed_at",
}


# --- helpers ------------------------------------------------------------------------------------


def _text_digest(text: str) -> dict:
    """How the audit log refers to free text: its SHA-256 and length, never the text."""
    return {"sha256": hashlib.sha256(text.encode()).hexdigest(), "length": len(text)}


def _clean_text(value, *, field: str, max_length: int, required: bool) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise invalid(field, "Give text.")
    if "\x00" in value:
        raise invalid(field, "Remove the NUL character.")
    value = value.strip()
    if required and not value:
        raise invalid(field, "This field is required.")
    if len(value) > max_length:
        raise invalid(field, f"Keep it to {max_length} characters.")
    return value


def _fit(value, max_length: int) -> str:
    text = value if isinstance(value, str) else ""
    return text.replace("\x00", "").strip()[:max_length].strip()


def _check_severity(severity) -> str:
    if severity not in Severity.values:
        raise invalid("severity", "One of: " + ", ".join(Severity.values) + ".")
    return severity


def _event(incident: Incident, *, actor, kind: str, note: str = "", detail=None) -> IncidentEvent:
    return IncidentEvent.objects.create(
        incident=incident,
        actor=actor_ref(actor),
        kind=kind,
        note=note,
        detail=detail or {},
    )


def _audit(incident: Incident, *, actor, event_type: str, payload: dict) -> None:
    audit_record(
        workspace=incident.workspace,
        actor=actor,
        event_type=event_type,
        resource_type="incident",
        resource_id=incident.public_id,
        payload=payload,
    )


def _locked(*, workspace, incident: Incident) -> Incident:
    row = (
        Incident.objects.select_for_update()
        .select_related("workspace")
        .filter(workspace=workspace, pk=incident.pk)
        .first()
    )
    if row is None:
        raise NotFoundError("No such incident in this workspace.")
    return row


def _locked_open(*, workspace, incident: Incident) -> Incident:
    row = _locked(workspace=workspace, incident=incident)
    if row.phase == Phase.CLOSED:
        raise ConflictError("This incident is closed; reopen it first.")
    return row


# --- opening ------------------------------------------------------------------------------------


@transaction.atomic
def incident_open_auto(
    *, workspace, source_kind: str, source_id: str, title: str, severity: str, subject: str = ""
) -> Incident:
    """Open an incident for an anomaly or an automatic pause — or, when an open incident
    already covers the same subject (else the same source), link the source to it instead.

    ``subject`` names what it concerns: ``"destination:<dst_…>"``, ``"event:<event name>"``
    (or another ``kind:value``); it and the title are cut to size (``SUBJECT_MAX``,
    ``TITLE_MAX``), never refused. Idempotent: the same source twice changes nothing the second
    time. A linked source of higher severity raises the incident's. Acted by
    ``system:incidents``; its entries (``incident.opened``, ``incident.source_linked``) are
    queued, not refused, while the advisory lock is on."""
    if source_kind not in AUTOMATIC:
        raise invalid("source_kind", "One of: " + ", ".join(AUTOMATIC) + ".")
    source_id = _clean_text(source_id, field="source_id", max_length=SOURCE_ID_MAX, required=True)
    _check_severity(severity)
    # Titles and subjects come from what the detectors saw (event names among them): taken,
    # cut to size, rather than failing the detector's transaction over a long name.
    subject = _fit(subject, SUBJECT_MAX)
    title = _fit(title, TITLE_MAX) or f"{SourceKind(source_kind).label} {source_id}"
    key = subject or f"{source_kind}:{source_id}"
    existing = _open_for_key(workspace=workspace, key=key)
    if existing is not None:
        return _source_link(
            existing, source_kind=source_kind, source_id=source_id, severity=severity
        )
    try:
        with transaction.atomic():
            incident = Incident.objects.create(
                workspace=workspace,
                title=title,
                severity=severity,
                opened_by=actor_ref(SYSTEM),
                source_kind=source_kind,
                source_ids=[source_id],
                subject=subject,
                dedup_key=key,
            )
    except IntegrityError:
        # Opened by another worker between our look and our insert: join it (closed again
        # already — then the detector's next run opens one).
        existing = _open_for_key(workspace=workspace, key=key)
        if existing is None:
            raise
        return _source_link(
            existing, source_kind=source_kind, source_id=source_id, severity=severity
        )
    _opened(incident, actor=SYSTEM)
    return incident


def _open_for_key(*, workspace, key: str) -> Incident | None:
    return (
        Incident.objects.select_for_update()
        .select_related("workspace")
        .filter(workspace=workspace, dedup_key=key, closed_at__isnull=True)
        .first()
    )


def _source_link(incident: Incident, *, source_kind: str, source_id: str, severity: str):
    if source_id in incident.source_ids:
        return incident
    before = incident.severity
    incident.source_ids = [*incident.source_ids, source_id]
    if SEVERITY_RANK[severity] > SEVERITY_RANK[before]:
        incident.severity = severity
    incident.save(update_fields=["source_ids", "severity", "updated_at"])
    detail = {
        "source_kind": source_kind,
        "source_id": source_id,
        "severity": severity,
        "severity_from": before,
        "severity_to": incident.severity,
    }
    _event(incident, actor=SYSTEM, kind=EventKind.LINKED_ANOMALY, detail=detail)
    _audit(incident, actor=SYSTEM, event_type="incident.source_linked", payload=detail)
    return incident


def _opened(incident: Incident, *, actor) -> None:
    detail = {
        "severity": incident.severity,
        "source_kind": incident.source_kind,
        "source_ids": incident.source_ids,
        "subject": incident.subject,
    }
    _event(incident, actor=actor, kind=EventKind.OPENED, detail=detail)
    _audit(
        incident,
        actor=actor,
        event_type="incident.opened",
        payload={**detail, "title": _text_digest(incident.title)},
    )


@transaction.atomic
def incident_open(
    *, workspace, actor, title, severity, destination_id: str = "", note: str = ""
) -> Incident:
    """Open an incident by hand, optionally about one of the workspace's destinations (its
    public id), with a first note."""
    policy.authorize(workspace=workspace, actor=actor, action=EDIT_ACTION)
    errors: dict[str, str] = {}
    values = {}
    for field, value, max_length, required in (
        ("title", title, TITLE_MAX, True),
        ("note", note, NOTE_MAX, False),
        ("destination", destination_id, SOURCE_ID_MAX, False),
    ):
        try:
            values[field] = _clean_text(
                value, field=field, max_length=max_length, required=required
            )
        except IncidentInvalidError as error:
            errors.update(error.errors)
    if severity not in Severity.values:
        errors["severity"] = "One of: " + ", ".join(Severity.values) + "."
    subject = ""
    if not errors.get("destination") and values.get("destination"):
        try:
            found = routing_selectors.destination_get(
                workspace=workspace, public_id=values["destination"]
            )
        except NotFoundError:
            errors["destination"] = "No such destination in this workspace."
        else:
            subject = f"destination:{found.public_id}"
    if errors:
        raise IncidentInvalidError(errors)
    incident = Incident.objects.create(
        workspace=workspace,
        title=values["title"],
        severity=severity,
        opened_by=actor_ref(actor),
        source_kind=SourceKind.MANUAL,
        subject=subject,
    )
    _opened(incident, actor=actor)
    if values["note"]:
        _note(incident, actor=actor, note=values["note"])
    return incident


# --- phases -------------------------------------------------------------------------------------


@transaction.atomic
def incident_phase_set(*, workspace, actor, incident: Incident, phase, note: str = "") -> Incident:
    """Move the incident on by one phase (detect → contain → eradicate → review), back to any
    earlier phase with a note saying why (the timestamps of the phases undone are cleared: a
    containment that did not hold does not count as one), or reopen a closed one
    (with a note). Closing is ``incident_close``: it needs the post-mortem."""
    policy.authorize(workspace=workspace, actor=actor, action=EDIT_ACTION)
    row = _locked(workspace=workspace, incident=incident)
    if phase not in PHASE_ORDER:
        raise invalid("phase", "One of: " + ", ".join(PHASE_ORDER) + ".")
    if phase == Phase.CLOSED:
        return incident_close(workspace=workspace, actor=actor, incident=row)
    note = _clean_text(note, field="note", max_length=NOTE_MAX, required=False)
    current, target = PHASE_ORDER.index(row.phase), PHASE_ORDER.index(phase)
    if target == current:
        raise ConflictError(f"The incident is in {row.get_phase_display().lower()} already.")
    if target > current + 1:
        following = PHASE_ORDER[current + 1]
        raise invalid("phase", f"Move one phase at a time: next is {following}.")
    if target < current and not note:
        raise invalid("note", "Say why the incident moves back.")
    event_type = "incident.phase_changed"
    now = timezone.now()
    fields = ["phase", "phase_changed_at", "updated_at"]
    reopening = row.phase == Phase.CLOSED
    if reopening:
        event_type = "incident.reopened"
    if target > current:
        setattr(row, PHASE_TIMESTAMP[phase], now)
        fields.append(PHASE_TIMESTAMP[phase])
    else:
        for undone in PHASE_ORDER[target + 1 : current + 1]:
            setattr(row, PHASE_TIMESTAMP[undone], None)
            fields.append(PHASE_TIMESTAMP[undone])
    detail = {"from": row.phase, "to": phase}
    row.phase = phase
    row.phase_changed_at = now
    try:
        with transaction.atomic():
            row.save(update_fields=fields)
    except IntegrityError:
        # Reopening an automatic incident while another is open for its subject (the one open
        # incident per subject constraint) — seen here even when that one is being opened by
        # a detector at this very moment.
        if not reopening:
            raise
        other = _open_for_key(workspace=workspace, key=row.dedup_key)
        named = other.public_id if other is not None else "Another incident"
        raise ConflictError(f"{named} is open for the same subject.") from None
    _event(row, actor=actor, kind=EventKind.PHASE_CHANGED, note=note, detail=detail)
    payload = {**detail, "note": _text_digest(note)} if note else detail
    _audit(row, actor=actor, event_type=event_type, payload=payload)
    return row


@transaction.atomic
def incident_close(*, workspace, actor, incident: Incident) -> Incident:
    """Close an incident in review whose post-mortem is complete; otherwise
    ``IncidentInvalidError`` naming every post-mortem field still empty."""
    policy.authorize(workspace=workspace, actor=actor, action=EDIT_ACTION)
    row = _locked_open(workspace=workspace, incident=incident)
    missing = {
        field: "Required to close the incident."
        for field in POSTMORTEM_FIELDS
        if not getattr(row, field).strip()
    }
    if missing:
        raise IncidentInvalidError(missing)
    if row.phase != Phase.REVIEW:
        raise invalid("phase", "Close an incident from review.")
    now = timezone.now()
    detail = {"from": row.phase, "to": Phase.CLOSED}
    row.phase = Phase.CLOSED
    row.phase_changed_at = now
    row.closed_at = now
    row.save(update_fields=["phase", "phase_changed_at", "closed_at", "updated_at"])
    _event(row, actor=actor, kind=EventKind.PHASE_CHANGED, detail=detail)
    _audit(
        row,
        actor=actor,
        event_type="incident.closed",
        payload={
            **detail,
            "postmortem": {field: _text_digest(getattr(row, field)) for field in POSTMORTEM_FIELDS},
        },
    )
    return row


# --- notes and the post-mortem ------------------------------------------------------------------


def _note(incident: Incident, *, actor, note: str) -> None:
    _event(incident, actor=actor, kind=EventKind.NOTE, note=note)
    _audit(incident, actor=actor, event_type="incident.note_added", payload=_text_digest(note))


@transaction.atomic
def incident_note_add(*, workspace, actor, incident: Incident, note) -> Incident:
    policy.authorize(workspace=workspace, actor=actor, action=EDIT_ACTION)
    row = _locked(workspace=workspace, incident=incident)
    note = _clean_text(note, field="note", max_length=NOTE_MAX, required=True)
    _note(row, actor=actor, note=note)
    return row


@transaction.atomic
def incident_postmortem_save(*, workspace, actor, incident: Incident, **fields) -> Incident:
    """Save the post-mortem's fields (``impact``, ``timeline_summary``,
    ``contributing_factors``, ``corrective_actions``; any may be empty until closing). The
    audit entry names the fields changed and each one's SHA-256."""
    policy.authorize(workspace=workspace, actor=actor, action=EDIT_ACTION)
    unknown = sorted(set(fields) - set(POSTMORTEM_FIELDS))
    if unknown:
        raise invalid(unknown[0], "Not a post-mortem field.")
    row = _locked_open(workspace=workspace, incident=incident)
    errors: dict[str, str] = {}
    cleaned = {}
    for field in POSTMORTEM_FIELDS:
        if field not in fields:
            continue
        try:
            cleaned[field] = _clean_text(
                fields[field], field=field, max_length=POSTMORTEM_MAX, required=False
            )
        except IncidentInvalidError as error:
            errors.update(error.errors)
    if errors:
        raise IncidentInvalidError(errors)
    changed = [field for field, value in cleaned.items() if getattr(row, field) != value]
    if not changed:
        return row
    for field in changed:
        setattr(row, field, cleaned[field])
    row.save(update_fields=[*changed, "updated_at"])
    _event(row, actor=actor, kind=EventKind.POSTMORTEM_SAVED, detail={"fields": changed})
    _audit(
        row,
        actor=actor,
        event_type="incident.postmortem_saved",
        payload={"fields": {field: _text_digest(cleaned[field]) for field in changed}},
    )
    return row


# --- containment --------------------------------------------------------------------------------


def _contained(incident: Incident, *, actor, detail: dict, event_type: str, kind: str) -> None:
    _event(incident, actor=actor, kind=kind, detail=detail)
    _audit(incident, actor=actor, event_type=event_type, payload=detail)


@transaction.atomic
def incident_destination_pause(*, workspace, actor, incident: Incident, destination_id) -> Incident:
    """Pause one destination (``destination_pause``, audited as ``destination.paused``) and
    put it on the incident's timeline (``incident.containment_action``)."""
    policy.authorize(workspace=workspace, actor=actor, action=EDIT_ACTION)
    row = _locked_open(workspace=workspace, incident=incident)
    destination = _destination(workspace=workspace, public_id=destination_id)
    paused = destination_pause(
        workspace=workspace, actor=actor, destination=destination, reason=_reason(row)
    )
    _contained(
        row,
        actor=actor,
        kind=EventKind.CONTAINMENT_ACTION,
        event_type="incident.containment_action",
        detail={"action": "destination_paused", "destinations": [paused.public_id]},
    )
    return row


def _destination(*, workspace, public_id):
    if not isinstance(public_id, str) or not public_id:
        raise invalid("destination", "Choose a destination.")
    try:
        return routing_selectors.destination_get(workspace=workspace, public_id=public_id)
    except NotFoundError:
        raise invalid("destination", "No such destination in this workspace.") from None


def _reason(incident: Incident) -> str:
    return f"Contained by incident {incident.public_id}."


@transaction.atomic
def incident_egress_pause(*, workspace, actor, incident: Incident) -> Incident:
    """Pause every destination that is sending, recording which on the incident, so that
    ``incident_egress_resume`` resumes exactly those (and not one paused for another reason)."""
    policy.authorize(workspace=workspace, actor=actor, action=EDIT_ACTION)
    row = _locked_open(workspace=workspace, incident=incident)
    active = [
        destination
        for destination in routing_selectors.destinations_list(workspace=workspace)
        if destination.state == DestinationState.ACTIVE
    ]
    if not active:
        raise ConflictError("No destination is sending; there is nothing to pause.")
    paused = [
        destination_pause(
            workspace=workspace, actor=actor, destination=destination, reason=_reason(row)
        ).public_id
        for destination in active
    ]
    row.paused_destinations = list(dict.fromkeys([*row.paused_destinations, *paused]))
    row.save(update_fields=["paused_destinations", "updated_at"])
    _contained(
        row,
        actor=actor,
        kind=EventKind.CONTAINMENT_ACTION,
        event_type="incident.containment_action",
        detail={"action": "egress_paused", "destinations": paused},
    )
    return row


@transaction.atomic
def incident_egress_resume(*, workspace, actor, incident: Incident) -> Incident:
    """Resume the destinations this incident's "pause all egress" paused that are still
    paused (``destination_resume`` each); the ones resumed meanwhile or deleted are named as
    skipped. Audited as ``incident.containment_undone`` — widening, so refused while the
    advisory lock is on."""
    policy.authorize(workspace=workspace, actor=actor, action=EDIT_ACTION)
    row = _locked(workspace=workspace, incident=incident)
    if not row.paused_destinations:
        raise ConflictError("This incident has no paused egress to resume.")
    current = {
        destination.public_id: destination
        for destination in routing_selectors.destinations_list(workspace=workspace)
    }
    resumed, skipped = [], []
    for public_id in row.paused_destinations:
        destination = current.get(public_id)
        if destination is None or destination.state != DestinationState.PAUSED:
            skipped.append(public_id)
            continue
        destination_resume(workspace=workspace, actor=actor, destination=destination)
        resumed.append(public_id)
    row.paused_destinations = []
    row.save(update_fields=["paused_destinations", "updated_at"])
    _contained(
        row,
        actor=actor,
        kind=EventKind.CONTAINMENT_UNDONE,
        event_type="incident.containment_undone",
        detail={"action": "egress_resumed", "destinations": resumed, "skipped": skipped},
    )
    return row


@transaction.atomic
def incident_api_key_revoke(*, workspace, actor, incident: Incident, key) -> Incident:
    """Revoke an API key (``api_key_revoke``: API_KEY_MANAGE, audited as ``api_key.revoked``;
    every process refuses the key within a second) and put it on the incident's timeline."""
    policy.authorize(workspace=workspace, actor=actor, action=EDIT_ACTION)
    row = _locked_open(workspace=workspace, incident=incident)
    revoked = api_key_revoke(workspace=workspace, actor=actor, key=key)
    _contained(
        row,
        actor=actor,
        kind=EventKind.CONTAINMENT_ACTION,
        event_type="incident.containment_action",
        detail={
            "action": "api_key_revoked",
            "api_key": revoked.public_id,
            "prefix": revoked.display_prefix,
        },
    )
    return row
