"""What the dashboard shows of retention: the windows, the last purge with its counts, when the
next one runs and how much is past its window now.

The last purge is ``IngestionSettings.last_purge`` (written by the purge with its audit entry
``events.operational_data_purged``, destinations.retention.purge): one record, read here."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import OperationalError, connections
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from destinations.ingestion.runtime import ingestion_settings_get
from destinations.models import (
    Delivery,
    DeliveryStatus,
    Event,
    EventOperational,
    RejectedEvent,
)
from workspaces.regions import data_atomic, workspace_db

STORES = ("events", "operational", "message_ids", "deliveries", "attempts", "rejected")
# The beat entry that queues every workspace's purge (tracklayer/settings.py, "events-purge").
PURGE_TASK = "destinations.tasks.events_purge_expired_all"
PURGE_SCHEDULE_ENTRY = "events-purge"
# How far the backlog estimate counts (beyond it: "more than"), and how long it may take.
BACKLOG_CAP = 10_000
BACKLOG_TIMEOUT_MS = 500


@dataclass(frozen=True, slots=True)
class RetentionOverview:
    events_days: int  # events, and with them the debugger's data
    operational_days: int  # IP address and user agent
    delivery_days: int  # finished deliveries, their attempts, dead letters
    dedup_days: int  # de-duplication keys
    last_purge_at: datetime | None
    last_purge_counts: dict[str, int]  # store -> rows the last purge deleted
    pending_counts: dict[str, int]  # deleted by a run that stopped before its audit entry
    last_purge_region: str = ""  # the region the last purge ran in ("" before it was recorded)


def retention_overview(*, workspace) -> RetentionOverview:
    current = ingestion_settings_get(workspace=workspace)
    last = current.last_purge if isinstance(current.last_purge, dict) else {}
    counts = last.get("counts") if isinstance(last.get("counts"), dict) else {}
    pending = current.purge_pending if isinstance(current.purge_pending, dict) else {}
    region = last.get("region")
    return RetentionOverview(
        events_days=current.events_retention_days,
        operational_days=current.operational_retention_days,
        delivery_days=current.delivery_retention_days,
        dedup_days=current.dedup_window_days,
        last_purge_at=current.last_purge_at,
        last_purge_counts={store: int(counts.get(store, 0)) for store in STORES},
        pending_counts={store: int(pending[store]) for store in STORES if pending.get(store)},
        last_purge_region=region if isinstance(region, str) else "",
    )


@dataclass(frozen=True, slots=True)
class PurgeSchedule:
    every: timedelta  # how often beat queues the purges
    next_run_at: datetime | None  # None: beat has not stored its schedule yet (never started)

    @property
    def every_label(self) -> str:
        """ "hour", "15 minutes", "2 hours"…: how the page says how often."""
        minutes = int(self.every.total_seconds()) // 60
        if minutes and minutes % 60 == 0:
            hours = minutes // 60
            return "hour" if hours == 1 else f"{hours} hours"
        if minutes:
            return "minute" if minutes == 1 else f"{minutes} minutes"
        return f"{int(self.every.total_seconds())} seconds"


def purge_schedule(*, now: datetime | None = None) -> PurgeSchedule:
    """When beat next queues the purges: from its stored entry (django-celery-beat's
    ``PeriodicTask``, which beat syncs from ``CELERY_BEAT_SCHEDULE``); the purge of one
    workspace runs on its region's queue shortly after."""
    now = now or timezone.now()
    every = timedelta(seconds=settings.CELERY_BEAT_SCHEDULE[PURGE_SCHEDULE_ENTRY]["schedule"])
    stored = (
        PeriodicTask.objects.filter(task=PURGE_TASK, enabled=True)
        .select_related("interval", "crontab", "solar", "clocked")
        .order_by("pk")
        .first()
    )
    if stored is None:
        return PurgeSchedule(every=every, next_run_at=None)
    if stored.interval is not None:
        every = stored.interval.schedule.run_every
    if stored.last_run_at is None:
        return PurgeSchedule(every=every, next_run_at=now)
    remaining = stored.schedule.remaining_estimate(stored.last_run_at)
    return PurgeSchedule(every=every, next_run_at=now + max(remaining, timedelta(0)))


# What is past each window now: counts that stop at BACKLOG_CAP + 1, each through an index
# the purge uses too (events: workspace and time; deliveries: workspace and creation time).
_BACKLOG_SQL = f"""
    SELECT
        (SELECT count(*) FROM (
            SELECT 1 FROM {Event._meta.db_table}
            WHERE workspace_id = %(ws)s AND received_at < %(events)s LIMIT %(limit)s) e),
        (SELECT count(*) FROM (
            SELECT 1 FROM {EventOperational._meta.db_table}
            WHERE workspace_id = %(ws)s AND received_at < %(operational)s LIMIT %(limit)s) o),
        (SELECT count(*) FROM (
            SELECT 1 FROM {Delivery._meta.db_table}
            WHERE workspace_id = %(ws)s AND created_at < %(deliveries)s
            AND status <> '{DeliveryStatus.PENDING}' LIMIT %(limit)s) d),
        (SELECT count(*) FROM (
            SELECT 1 FROM {RejectedEvent._meta.db_table}
            WHERE workspace_id = %(ws)s AND received_at < %(events)s LIMIT %(limit)s) r)
"""  # noqa: S608 - model tables and a constant


@dataclass(frozen=True, slots=True)
class Backlog:
    """Rows past their window now, per store (``events``, ``operational``, ``deliveries``,
    ``rejected``);
    a count above ``cap`` means "more than cap". ``known`` is False when counting took longer
    than the page may wait (the counts are then empty)."""

    counts: dict[str, int]
    cap: int = BACKLOG_CAP
    known: bool = True


def retention_backlog(*, workspace, now: datetime | None = None) -> Backlog:
    """A cheap estimate of what the next purge will delete, read in the workspace's region
    under a statement timeout (never a page held up by a large table)."""
    now = now or timezone.now()
    current = ingestion_settings_get(workspace=workspace)
    params = {
        "ws": workspace.pk,
        "events": now - timedelta(days=current.events_retention_days),
        "operational": now - timedelta(days=current.operational_retention_days),
        "deliveries": now - timedelta(days=current.delivery_retention_days),
        "limit": BACKLOG_CAP + 1,
    }
    try:
        with data_atomic(workspace), connections[workspace_db(workspace)].cursor() as cursor:
            cursor.execute("SET LOCAL statement_timeout = %s", [BACKLOG_TIMEOUT_MS])
            cursor.execute(_BACKLOG_SQL, params)
            row = cursor.fetchone()
            # SET LOCAL lasts to the end of the outer transaction, if any (a region sharing
            # the control database, under ATOMIC_REQUESTS): the rest of the request has none.
            cursor.execute("SET LOCAL statement_timeout TO DEFAULT")
    except OperationalError:  # the timeout (QueryCanceled): too much to count quickly
        return Backlog(counts={}, cap=BACKLOG_CAP, known=False)
    counts = dict(zip(("events", "operational", "deliveries", "rejected"), row, strict=True))
    return Backlog(counts=counts, cap=BACKLOG_CAP)
