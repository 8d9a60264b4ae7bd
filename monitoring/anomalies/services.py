"""Anomalies' lifecycle and alert settings. Keyword-only; the workspace and the actor first.

Guarantees:

- At most one unresolved anomaly per (workspace, kind, subject) (a partial unique
  constraint); a run that finds it again updates its evidence, raises its severity if need
  be, and never opens a second one.
- Every transition is audited in its own transaction: ``anomaly.opened`` (acted by
  ``system:anomalies``), ``anomaly.acknowledged``, ``anomaly.resolved`` (by a member with
  OPERATIONS_EDIT, or automatically once the figure has been back to normal for
  ``detectors.resolve_after(kind)`` minutes); payloads hold kind, subject, severity and figures
  — never personal data. Drift is also written as ``schema.drift`` when first found.
- What a workspace's schema is learnt to (``KnownEventName``, ``KnownProperty``) holds names
  and JSON types only, within ``detectors.NAMES_MAX`` and ``PROPERTIES_MAX``; what has not
  been seen for ``FORGET_AFTER`` is forgotten (``schema_forget``).
- A high-severity anomaly (an automatic pause always is) opens an incident, or joins the one
  open for its subject (``monitoring.incidents``), in the same transaction.
- Alerts are sent after the commit, one task per transition (``monitoring.anomalies.alerts``).
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Iterable
from datetime import datetime, timedelta

from celery import current_app
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import AuditEvent, audit_record, audit_record_many
from destinations.routing.validation import auditable
from monitoring.anomalies import detectors
from monitoring.anomalies.detectors import NAMES_MAX, Finding, KnownSchema, PropertySeen
from monitoring.anomalies.models import (
    SEVERITY_RANK,
    AlertSettings,
    Anomaly,
    AnomalyKind,
    AnomalySeverity,
    AnomalyStatus,
    KnownEventName,
    KnownProperty,
    alert_secret_context,
)
from monitoring.incidents.models import SourceKind
from monitoring.incidents.services import SUBJECT_MAX, incident_open_auto
from tracklayer import keyring
from tracklayer.exceptions import ConflictError, DomainError
from tracklayer.http import validate_url
from workspaces import policy
from workspaces.actors import SystemActor
from workspaces.models import Membership, Workspace
from workspaces.policy import Action

SYSTEM = SystemActor("anomalies")
# The task module imports this one: its tasks are named, not imported (as destinations' are).
ALERT_TASK = "monitoring.anomalies.tasks.anomaly_alert_send"
VIEW_ACTION = Action.WORKSPACE_VIEW
EDIT_ACTION = Action.OPERATIONS_EDIT  # acknowledge, resolve
SETTINGS_ACTION = Action.WORKSPACE_UPDATE  # alert settings: admins

# Under the advisory lock, anomaly.opened, .acknowledged, .resolved and schema.drift go on
# (audit.advisory.QUEUED_WHILE_LOCKED; the lifecycle tests check it): detection is how a
# compromise is noticed, and acknowledging or resolving only records that someone looked.
# Changing the alert settings (who hears, where) is a reconfiguration: refused.

# A workspace learns its event names (and its properties) for a day before a new one counts
# as drift. What is seen again refreshes its ``last_seen`` at most once a ``TOUCH_AFTER``;
# what has not been seen for ``FORGET_AFTER`` is forgotten (new again if it comes back).
LEARNING = timedelta(days=1)
TOUCH_AFTER = timedelta(days=1)
FORGET_AFTER = timedelta(days=30)
QUIET_MINUTES_MAX = 24 * 60
SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)


class AlertSettingsInvalid(DomainError):
    code = "invalid"
    status = 422


def figures_of(evidence: dict) -> dict:
    """An anomaly's figures: its evidence without the sparkline's series."""
    return {key: value for key, value in evidence.items() if key != "series"}


def audit_figures(evidence: dict) -> dict:
    """The audited figures, decimals as strings (the log's canonical JSON takes no floats;
    ``auditable``, as destinations' pauses do)."""
    return auditable(figures_of(evidence))


def _payload(anomaly: Anomaly, **extra) -> dict:
    return {
        "kind": anomaly.kind,
        "subject": anomaly.subject,
        "severity": anomaly.severity,
        "figures": audit_figures(anomaly.evidence),
        **extra,
    }


def _audit(anomaly: Anomaly, *, actor, event_type: str, **extra) -> None:
    audit_record(
        workspace=anomaly.workspace,
        actor=actor,
        event_type=event_type,
        resource_type="anomaly",
        resource_id=anomaly.public_id,
        payload=_payload(anomaly, **extra),
    )


def _alert_later(anomaly: Anomaly, transition: str) -> None:
    transaction.on_commit(
        lambda: current_app.send_task(
            ALERT_TASK,
            kwargs={"anomaly_id": anomaly.pk, "transition": transition},
        )
    )


def _incident(anomaly: Anomaly) -> None:
    if anomaly.severity != AnomalySeverity.HIGH:
        return
    # An automatic pause is named by its destination (incidents' convention), any other
    # anomaly by its own id.
    auto_pause = anomaly.kind == AnomalyKind.AUTO_PAUSE
    incident_open_auto(
        workspace=anomaly.workspace,
        source_kind=SourceKind.AUTO_PAUSE if auto_pause else SourceKind.ANOMALY,
        source_id=anomaly.subject.partition(":")[2] if auto_pause else anomaly.public_id,
        title=anomaly.summary,
        severity=anomaly.severity,
        subject=anomaly.subject[:SUBJECT_MAX],
    )


# --- the run: open, update, resolve -------------------------------------------------------------


@transaction.atomic
def anomalies_apply(
    *,
    workspace,
    findings: Iterable[Finding],
    drift: Iterable[dict] = (),
    now: datetime,
    seen_names: Iterable[str] = (),
    seen_properties: Iterable[PropertySeen] = (),
    touch_names: Iterable[str] = (),
    touch_properties: Iterable[PropertySeen] = (),
) -> dict[str, int]:
    """One run's verdict for one workspace, in one transaction: open what is new, update what
    is still found, resolve what has been normal for long enough; write ``schema.drift`` for
    drift found for the first time; remember event names and properties seen (new ones
    learnt, known ones ``touch_*`` refreshed). Returns the counts.

    A workspace deleted since the run read it gets nothing (no anomaly, incident or alert):
    its row is locked here (as ``workspace_delete`` locks it), so a deletion either commits
    first and is seen, or waits for this transaction."""
    counts = {"opened": 0, "updated": 0, "resolved": 0}
    live = Workspace.objects.active().select_for_update(no_key=True).filter(pk=workspace.pk)
    if live.values_list("pk", flat=True).first() is None:
        return counts
    unresolved = {
        (row.kind, row.subject): row
        for row in Anomaly.objects.select_for_update()
        .filter(workspace=workspace)
        .exclude(status=AnomalyStatus.RESOLVED)
    }
    found_keys = set()
    drift_by_subject = {_drift_subject(payload): payload for payload in drift}
    drift_entries = []
    for finding in findings:
        key = (finding.kind, finding.subject)
        if key in found_keys:
            continue
        found_keys.add(key)
        row = unresolved.get(key)
        if row is None:
            row = Anomaly.objects.create(
                workspace=workspace,
                kind=finding.kind,
                subject=finding.subject,
                severity=finding.severity,
                summary=finding.summary[:300],
                evidence=finding.evidence,
                started_at=now,
                last_seen_at=now,
            )
            _audit(row, actor=SYSTEM, event_type="anomaly.opened")
            if finding.kind == AnomalyKind.SCHEMA_DRIFT and finding.subject in drift_by_subject:
                drift_entries.append(
                    AuditEvent(
                        "schema.drift", "event", finding.subject, drift_by_subject[finding.subject]
                    )
                )
            _incident(row)
            _alert_later(row, "opened")
            counts["opened"] += 1
            continue
        raised = SEVERITY_RANK[finding.severity] > SEVERITY_RANK[row.severity]
        row.evidence = finding.evidence
        row.summary = finding.summary[:300]
        row.last_seen_at = now
        if raised:
            row.severity = finding.severity
        row.save(update_fields=["evidence", "summary", "last_seen_at", "severity"])
        if raised:
            row.workspace = workspace
            _incident(row)
        counts["updated"] += 1
    for key, row in unresolved.items():
        if key in found_keys:
            continue
        minutes = detectors.resolve_after(row.kind)
        if minutes is None or now - row.last_seen_at < timedelta(minutes=minutes):
            continue
        row.workspace = workspace
        _resolve(row, actor=SYSTEM, now=now, automatically=True)
        counts["resolved"] += 1
    if drift_entries:
        audit_record_many(workspace=workspace, actor=SYSTEM, events=drift_entries)
    _names_learn(workspace=workspace, names=seen_names, now=now)
    _properties_learn(workspace=workspace, seen=seen_properties, now=now)
    _schema_touch(workspace=workspace, names=touch_names, properties=touch_properties, now=now)
    return counts


def _drift_subject(payload: dict) -> str:
    subject = f"event:{payload['event']}"
    return subject + f"|{payload['path']}" if payload.get("path") else subject


def _names_learn(*, workspace, names: Iterable[str], now: datetime) -> None:
    rows = [
        KnownEventName(workspace=workspace, name=name[:200], first_seen=now, last_seen=now)
        for name in names
    ]
    if rows:
        KnownEventName.objects.bulk_create(rows, ignore_conflicts=True)


def _properties_learn(*, workspace, seen: Iterable[PropertySeen], now: datetime) -> None:
    rows = [
        KnownProperty(
            workspace=workspace,
            event=row.event[:200],
            name=row.path[:200],
            type=row.type[:8],
            first_seen=now,
            last_seen=now,
        )
        for row in seen
    ]
    if rows:
        KnownProperty.objects.bulk_create(rows, ignore_conflicts=True)


def _schema_touch(*, workspace, names, properties, now: datetime) -> None:
    names = sorted(set(names))
    if names:
        KnownEventName.objects.filter(workspace=workspace, name__in=names).update(last_seen=now)
    by_key: dict[tuple[str, str], set[str]] = {}
    for row in properties:
        by_key.setdefault((row.event, row.path), set()).add(row.type)
    if by_key:
        match = Q()
        for (event, path), types in by_key.items():
            match |= Q(event=event, name=path, type__in=sorted(types))
        KnownProperty.objects.filter(match, workspace=workspace).update(last_seen=now)


def known_schema_for(
    *, workspaces: Iterable, now: datetime, sampled: Collection[int] = ()
) -> dict[int, tuple[KnownSchema, set[str], set[tuple[str, str, str]]]]:
    """Each workspace's learnt schema (``detectors.KnownSchema``: names, and — for the
    ``sampled`` workspaces only — properties and their types; each still learning while its
    first entry is less than ``LEARNING`` old, or there is none: then nothing is new), with
    the names and (event, path, type) triples last seen more than ``TOUCH_AFTER`` ago (to
    refresh when seen again). Two queries."""
    ids = [w.pk for w in workspaces]
    known = {pk: KnownSchema() for pk in ids}
    stale_names: dict[int, set[str]] = {pk: set() for pk in ids}
    stale_properties: dict[int, set[tuple[str, str, str]]] = {pk: set() for pk in ids}
    touch_before = now - TOUCH_AFTER
    first: dict[int, datetime] = {}
    for workspace_id, name, seen, last in KnownEventName.objects.filter(
        workspace_id__in=ids
    ).values_list("workspace_id", "name", "first_seen", "last_seen"):
        known[workspace_id].names.add(name)
        first[workspace_id] = min(first.get(workspace_id, seen), seen)
        if (last or seen) < touch_before:
            stale_names[workspace_id].add(name)
    first_property: dict[int, datetime] = {}
    rows = KnownProperty.objects.filter(workspace_id__in=[pk for pk in ids if pk in sampled])
    for workspace_id, event, path, kind, seen, last in rows.values_list(
        "workspace_id", "event", "name", "type", "first_seen", "last_seen"
    ):
        known[workspace_id].properties.setdefault(event, {}).setdefault(path, set()).add(kind)
        first_property[workspace_id] = min(first_property.get(workspace_id, seen), seen)
        if last < touch_before:
            stale_properties[workspace_id].add((event, path, kind))
    for pk, schema in known.items():
        schema.names_learning = pk not in first or now - first[pk] < LEARNING
        schema.properties_learning = pk not in first_property or now - first_property[pk] < LEARNING
    return {pk: (known[pk], stale_names[pk], stale_properties[pk]) for pk in ids}


def names_room(schema: KnownSchema, new: list[str]) -> list[str]:
    """The new names that fit under ``NAMES_MAX`` (past it, learning stops)."""
    return new[: max(NAMES_MAX - len(schema.names), 0)]


def schema_forget(*, region: str, now: datetime) -> tuple[int, int]:
    """Forget the event names and properties of ``region``'s workspaces not seen for
    ``FORGET_AFTER`` (two deletes on the ``last_seen`` indexes). Returns what was deleted."""
    before = now - FORGET_AFTER
    names, _ = KnownEventName.objects.filter(
        Q(last_seen__lt=before) | Q(last_seen__isnull=True, first_seen__lt=before),
        workspace__region=region,
    ).delete()
    properties, _ = KnownProperty.objects.filter(
        last_seen__lt=before, workspace__region=region
    ).delete()
    return names, properties


def _resolve(anomaly: Anomaly, *, actor, now: datetime, automatically: bool) -> None:
    anomaly.status = AnomalyStatus.RESOLVED
    anomaly.resolved_at = now
    anomaly.resolved_automatically = automatically
    anomaly.resolved_by = None if automatically else actor
    anomaly.save(update_fields=["status", "resolved_at", "resolved_automatically", "resolved_by"])
    _audit(
        anomaly,
        actor=actor,
        event_type="anomaly.resolved",
        automatic=automatically,
        duration_seconds=int((now - anomaly.started_at).total_seconds()),
    )
    _alert_later(anomaly, "resolved")


# --- people: acknowledge, resolve ----------------------------------------------------------------


def _locked(*, workspace, anomaly: Anomaly) -> Anomaly:
    row = Anomaly.objects.select_for_update().get(pk=anomaly.pk, workspace=workspace)
    row.workspace = workspace
    return row


@transaction.atomic
def anomaly_acknowledge(*, workspace, actor, anomaly: Anomaly) -> Anomaly:
    """Someone is looking at it: open → acknowledged (alerts about it stop until resolved)."""
    policy.authorize(workspace=workspace, actor=actor, action=EDIT_ACTION)
    row = _locked(workspace=workspace, anomaly=anomaly)
    if row.status != AnomalyStatus.OPEN:
        raise ConflictError(f"This anomaly is {row.status}, not open.")
    row.status = AnomalyStatus.ACKNOWLEDGED
    row.acknowledged_at = timezone.now()
    row.acknowledged_by = actor
    row.save(update_fields=["status", "acknowledged_at", "acknowledged_by"])
    _audit(row, actor=actor, event_type="anomaly.acknowledged")
    return row


@transaction.atomic
def anomaly_resolve(*, workspace, actor, anomaly: Anomaly) -> Anomaly:
    """Resolved by hand (open or acknowledged → resolved); a "resolved" alert goes out."""
    policy.authorize(workspace=workspace, actor=actor, action=EDIT_ACTION)
    row = _locked(workspace=workspace, anomaly=anomaly)
    if row.status == AnomalyStatus.RESOLVED:
        raise ConflictError("This anomaly is already resolved.")
    _resolve(row, actor=actor, now=timezone.now(), automatically=False)
    return row


# --- alert settings ------------------------------------------------------------------------------


@transaction.atomic
def alert_settings_update(
    *,
    workspace,
    actor,
    email_member_ids: Iterable[int],
    webhook_url: str,
    quiet_minutes: int,
    min_severity: str,
    new_secret: bool = False,
) -> tuple[AlertSettings, str | None]:
    """Change who hears about anomalies. Returns the settings and, when a webhook secret was
    made (the first URL, or ``new_secret``), that secret — shown once, stored sealed. The URL
    is checked against the egress policy; members must belong to the workspace."""
    policy.authorize(workspace=workspace, actor=actor, action=SETTINGS_ACTION)
    if not isinstance(quiet_minutes, int) or not 0 <= quiet_minutes <= QUIET_MINUTES_MAX:
        raise AlertSettingsInvalid(
            f"Between 0 and {QUIET_MINUTES_MAX} minutes.", field="quiet_minutes"
        )
    if min_severity not in AnomalySeverity.values:
        raise AlertSettingsInvalid("One of low, medium, high.", field="min_severity")
    if webhook_url:
        validate_url(webhook_url, field="webhook_url", unresolvable_ok=True)
    ids = set(email_member_ids)
    members = set(
        Membership.objects.filter(workspace=workspace, user_id__in=ids).values_list(
            "user_id", flat=True
        )
    )
    if ids - members:
        raise AlertSettingsInvalid("Only members of this workspace.", field="email_members")
    row = AlertSettings.objects.select_for_update().filter(workspace=workspace).first()
    if row is None:
        row = AlertSettings.objects.create(workspace=workspace)
    secret = None
    if webhook_url and (new_secret or not row.webhook_secret_encrypted):
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        row.webhook_secret_encrypted = keyring.encrypt(
            secret.encode(), context=alert_secret_context(row)
        )
    if not webhook_url:
        row.webhook_secret_encrypted = ""
    row.webhook_url = webhook_url
    row.quiet_minutes = quiet_minutes
    row.min_severity = min_severity
    row.save()
    row.email_members.set(sorted(members))
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="anomaly.alert_settings_updated",
        resource_type="alert_settings",
        resource_id=workspace.public_id,
        payload={
            "email_members": len(members),
            "webhook": bool(webhook_url),
            "webhook_secret_rotated": secret is not None,
            "quiet_minutes": quiet_minutes,
            "min_severity": min_severity,
        },
    )
    return row, secret


def alert_secret(settings: AlertSettings) -> str:
    return keyring.decrypt(
        settings.webhook_secret_encrypted, context=alert_secret_context(settings)
    ).decode()


@transaction.atomic
def anomaly_alert_record(*, anomaly_id: int, transition: str, channel: str, result: dict) -> None:
    """Record what one alert did (sent, skipped and why, or the error)."""
    row = Anomaly.objects.select_for_update().get(pk=anomaly_id)
    row.alerts = {**row.alerts, transition: {**row.alerts.get(transition, {}), channel: result}}
    fields = ["alerts"]
    if result.get("error"):
        row.alert_error = f"{transition} {channel}: {result['error']}"[:300]
        fields.append("alert_error")
    row.save(update_fields=fields)
