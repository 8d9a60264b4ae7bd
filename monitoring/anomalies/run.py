"""The detectors' run: every minute, per region, over all its workspaces.

One read of the region's minute figures (``selectors.region_figures``: one query over the
baseline's windows, ``destinations.metrics.selectors.region_minutes_windows``), then per
workspace the pure detectors and one transaction that opens, updates and resolves its
anomalies (``services.anomalies_apply``). A workspace whose transaction fails is logged and
skipped: the others go on. Property drift comes from a sample of the last minute's stored
events (``selectors.region_property_sample``: names and JSON types, one query for the region);
once an hour the run forgets names and properties not seen for 30 days. Deleted workspaces
(and so purged ones, whose tombstones keep ``deleted_at``) are not judged: nothing opens,
nothing alerts.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone

from destinations.metrics import EVENTS_ACCEPTED
from destinations.metrics.selectors import minute_number
from monitoring.anomalies import detectors, selectors, services
from monitoring.anomalies.detectors import Figures
from monitoring.anomalies.models import Anomaly, AnomalyStatus
from workspaces.models import Workspace

log = logging.getLogger(__name__)

VIOLATIONS_SINCE = timedelta(minutes=5)  # new plan violations: first seen in this window
SAMPLE_SINCE = timedelta(minutes=1)  # the events sampled for their properties
FORGET_EVERY = 60  # minutes between two ``schema_forget``


@dataclass
class RunReport:
    region: str
    workspaces: int = 0
    opened: int = 0
    updated: int = 0
    resolved: int = 0
    failed: list[str] = field(default_factory=list)
    read_seconds: float = 0.0
    detect_seconds: float = 0.0
    apply_seconds: float = 0.0


def anomalies_detect_region(*, region: str, now: datetime | None = None) -> RunReport:
    """Judge every workspace of ``region`` at ``now`` (default: the current minute)."""
    now = now or timezone.now()
    at = minute_number(now)
    report = RunReport(region)
    started = time.monotonic()
    figures = selectors.region_figures(region=region, at=at)
    violations = selectors.violations_new(region=region, since=now - VIOLATIONS_SINCE)
    # Workspaces with figures, a new violation or an anomaly to resolve (or a paused
    # destination) are the ones to judge; a silent workspace has nothing to say.
    unresolved = set(
        Anomaly.objects.filter(workspace__region=region)
        .exclude(status=AnomalyStatus.RESOLVED)
        .values_list("workspace_id", flat=True)
    )
    paused = selectors.paused_automatically(region=region)
    workspaces = list(
        Workspace.objects.active()
        # A workspace moving region answers 503 and delivers nothing until the switch, on
        # purpose: not a drop to report (docs/regions.md). Judged again once it has moved.
        .filter(region=region, moving_to="")
        .filter(pk__in=set(figures) | set(violations) | set(paused) | unresolved)
        .order_by("pk")
    )
    sample = selectors.region_property_sample(
        region=region,
        workspace_ids=[workspace.pk for workspace in workspaces],
        since=now - SAMPLE_SINCE,
        until=now,
    )
    known = services.known_schema_for(workspaces=workspaces, now=now, sampled=set(sample))
    report.read_seconds = time.monotonic() - started
    if at % FORGET_EVERY == 0:
        services.schema_forget(region=region, now=now)
    for workspace in workspaces:
        ticked = time.monotonic()
        own = figures.get(workspace.pk, Figures())
        schema, stale_names, stale_properties = known[workspace.pk]
        seen = sample.get(workspace.pk, ())
        changes = detectors.property_changes(seen, schema)
        findings, drift = detectors.detect(
            own,
            at,
            paused=paused.get(workspace.pk, ()),
            violations=violations.get(workspace.pk, ()),
            known=schema,
            changes=changes,
        )
        accepted = own.subjects(EVENTS_ACCEPTED)
        new_names = services.names_room(
            schema, [name for name in accepted if name not in schema.names]
        )
        learn = [row for row, _ in changes.learn]
        touch_names = [name for name in accepted if name in stale_names]
        touch_properties = [
            row for row in seen if (row.event, row.path, row.type) in stale_properties
        ]
        report.detect_seconds += time.monotonic() - ticked
        report.workspaces += 1
        writes = new_names or learn or touch_names or touch_properties
        if not (findings or writes or workspace.pk in unresolved):
            continue  # nothing to write: no transaction
        ticked = time.monotonic()
        try:
            counts = services.anomalies_apply(
                workspace=workspace,
                findings=findings,
                drift=drift,
                now=now,
                seen_names=new_names,
                seen_properties=learn,
                touch_names=touch_names,
                touch_properties=touch_properties,
            )
        except Exception:
            log.exception("anomalies: workspace %s skipped", workspace.public_id)
            report.failed.append(workspace.public_id)
            continue
        finally:
            report.apply_seconds += time.monotonic() - ticked
        report.opened += counts["opened"]
        report.updated += counts["updated"]
        report.resolved += counts["resolved"]
    return report
