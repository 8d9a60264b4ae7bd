"""Reads: a workspace's anomalies (page, API), and what the detectors read for a region —
the minute figures of every workspace (one query over the baseline's windows), automatically
paused destinations, new tracking-plan violations and a sample of the last minute's events'
property names and types."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.db import connections
from django.db.models import Q

from destinations.metrics import (
    DELIVERY_BLOCKED,
    DELIVERY_DEAD_REASON,
    DELIVERY_DELIVERED,
    DELIVERY_FAILED,
    DELIVERY_LATENCY,
    EVENTS_ACCEPTED,
    EVENTS_DUPLICATE,
    EVENTS_RECEIVED,
)
from destinations.metrics.selectors import minute_time, region_minutes_windows
from destinations.models import Destination, DestinationState, TrackingPlanViolation
from monitoring.anomalies.detectors import (
    PROPERTY_PREFIX,
    Figures,
    PausedDestination,
    PropertySeen,
    Violation,
    baseline_windows,
)
from monitoring.anomalies.models import AlertSettings, Anomaly, AnomalyKind, AnomalyStatus
from monitoring.incidents.models import Incident
from tracklayer.exceptions import DomainError, NotFoundError
from workspaces.models import User
from workspaces.regions import region_db

DETECTED_KINDS = (
    EVENTS_RECEIVED,
    EVENTS_ACCEPTED,
    EVENTS_DUPLICATE,
    DELIVERY_DELIVERED,
    DELIVERY_FAILED,
    DELIVERY_DEAD_REASON,
    DELIVERY_BLOCKED,
    DELIVERY_LATENCY,
)


class CursorInvalid(DomainError):
    code = "invalid"


UNRESOLVED = "unresolved"  # a status filter: open and acknowledged


def anomalies_list(*, workspace, status=None, kind=None, since=None, before: str | None = None):
    """The workspace's anomalies, newest first (then by id, for paging); ``status`` may be
    ``UNRESOLVED``; ``before`` (an anomaly's id in this workspace): only those listed after
    it."""
    rows = Anomaly.objects.filter(workspace=workspace)
    if before:
        cursor = rows.filter(public_id=before).values_list("started_at", "pk").first()
        if cursor is None:
            raise CursorInvalid("No such anomaly in this workspace.", field="before")
        rows = rows.filter(Q(started_at__lt=cursor[0]) | Q(started_at=cursor[0], pk__lt=cursor[1]))
    if status == UNRESOLVED:
        rows = rows.exclude(status=AnomalyStatus.RESOLVED)
    elif status:
        rows = rows.filter(status=status)
    if kind:
        rows = rows.filter(kind=kind)
    if since:
        rows = rows.filter(started_at__gte=since)
    return rows.select_related("acknowledged_by", "resolved_by").order_by("-started_at", "-pk")


def anomaly_get(*, workspace, public_id: str) -> Anomaly:
    row = (
        Anomaly.objects.filter(workspace=workspace, public_id=public_id)
        .select_related("acknowledged_by", "resolved_by")
        .first()
    )
    if row is None:
        raise NotFoundError("No such anomaly in this workspace.")
    return row


def anomaly_incident(*, workspace, anomaly: Anomaly) -> Incident | None:
    """The incident the anomaly opened or joined (an automatic pause is named there by its
    destination), the latest first; None when it opened none."""
    source_id = (
        anomaly.subject.partition(":")[2]
        if anomaly.kind == AnomalyKind.AUTO_PAUSE
        else anomaly.public_id
    )
    return (
        Incident.objects.filter(workspace=workspace, source_ids__contains=[source_id])
        .order_by("-opened_at")
        .first()
    )


def anomalies_open_count(*, workspace) -> int:
    unresolved = Anomaly.objects.filter(workspace=workspace)
    return unresolved.exclude(status=AnomalyStatus.RESOLVED).count()


def alert_settings_for(*, workspace) -> tuple[AlertSettings, list]:
    """The workspace's alert settings and the members chosen — the defaults (unsaved) when
    none were saved yet."""
    row = AlertSettings.objects.filter(workspace=workspace).first()
    if row is None:
        return AlertSettings(workspace=workspace), []
    return row, list(row.email_members.all())


def alert_recipient_choices(*, workspace):
    """The members who can be chosen to receive alert e-mails."""
    return User.objects.filter(memberships__workspace=workspace).order_by("email")


# --- what the run reads -------------------------------------------------------------------------


def region_figures(*, region: str, at: int) -> dict[int, Figures]:
    """Every workspace's figures in ``region`` over the windows the detectors judge minute
    ``at`` by (the recent minutes and the same time on the previous days): one query for the
    region (``destinations.metrics.selectors.region_minutes_windows``)."""
    windows = [(minute_time(first), minute_time(last + 1)) for first, last in baseline_windows(at)]
    figures: dict[int, Figures] = defaultdict(Figures)
    rows = region_minutes_windows(region=region, windows=windows, kinds=DETECTED_KINDS)
    for workspace_id, minute, kind, subject, value, count in rows:
        figures[workspace_id].add(minute, kind, subject, value, count)
    return figures


def paused_automatically(*, region: str) -> dict[int, list[PausedDestination]]:
    """Destinations of ``region``'s workspaces that the delivery engine paused (and nobody
    has resumed), per workspace."""
    paused: dict[int, list[PausedDestination]] = defaultdict(list)
    rows = Destination.objects.filter(
        workspace__region=region,
        state=DestinationState.PAUSED,
        paused_automatically=True,
        deleted_at__isnull=True,
    ).values_list("workspace_id", "public_id", "paused_reason", "paused_at")
    for workspace_id, public_id, reason, paused_at in rows:
        paused[workspace_id].append(
            PausedDestination(public_id, True, reason, paused_at.isoformat() if paused_at else "")
        )
    return paused


def violations_new(*, region: str, since: datetime) -> dict[int, list[Violation]]:
    """Tracking-plan violations first seen since ``since``, per workspace (aggregated rows,
    no values)."""
    found: dict[int, list[Violation]] = defaultdict(list)
    rows = (
        TrackingPlanViolation.objects.in_region(region)
        .filter(first_seen__gte=since)
        .values_list("workspace_id", "event_name", "path", "code", "count", "first_seen")
    )
    for workspace_id, name, path, code, count, first_seen in rows:
        found[workspace_id].append(Violation(name, path, code, count, first_seen.isoformat()))
    return found


# Per workspace (LATERAL: the index on (workspace_id, received_at DESC) finds each one's
# newest events), at most ``limit`` named events of the window; of each, the top-level
# property names and ``jsonb_typeof`` — never a value: values stay in the event store.
_PROPERTY_SAMPLE = """
SELECT w.id, e.name, p.key, jsonb_typeof(p.value), count(*)
FROM unnest(%(workspaces)s::bigint[]) AS w(id)
CROSS JOIN LATERAL (
    SELECT name, properties FROM destinations_event
    WHERE workspace_id = w.id AND received_at >= %(since)s AND received_at < %(until)s
      AND name <> ''
    ORDER BY received_at DESC
    LIMIT %(limit)s
) AS e
CROSS JOIN LATERAL jsonb_each(
    CASE WHEN jsonb_typeof(e.properties) = 'object' THEN e.properties ELSE '{}'::jsonb END
) AS p
GROUP BY 1, 2, 3, 4
"""
SAMPLE_EVENTS = 200  # sampled events per workspace and run


def region_property_sample(
    *, region: str, workspace_ids, since: datetime, until: datetime, limit: int = SAMPLE_EVENTS
) -> dict[int, list[PropertySeen]]:
    """The top-level properties (name and JSON type, with how many sampled events carried
    them) of at most ``limit`` events per workspace received in ``[since, until)``: one query
    for the region, on its data plane. Names longer than the control plane keeps (200) are
    cut."""
    found: dict[int, list[PropertySeen]] = defaultdict(list)
    ids = sorted(set(workspace_ids))
    if not ids:
        return found
    params = {"workspaces": ids, "since": since, "until": until, "limit": limit}
    with connections[region_db(region)].cursor() as cursor:
        cursor.execute(_PROPERTY_SAMPLE, params)
        for workspace_id, event, key, kind, count in cursor.fetchall():
            path = (PROPERTY_PREFIX + key)[:200]
            found[workspace_id].append(PropertySeen(event[:200], path, kind, count))
    return found


def since_minutes(at: datetime, minutes: int) -> datetime:
    return at - timedelta(minutes=minutes)
