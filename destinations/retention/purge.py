"""The retention purge: deletes what is older than a workspace's windows, in its region, in
small batches (docs/privacy-requests.md, "Retention").

Four steps, each repeated batch by batch until a batch comes back short:

1. finished deliveries (delivered, blocked by consent, dead letters) older than the delivery
   window, with their attempts;
2. events older than the events window (the debugger shows nothing older), children first in
   one statement: their deliveries' attempts, their deliveries, their operational data, them;
3. operational data (IP address, user agent) older than its window;
4. de-duplication keys older than the de-duplication window;
5. refused events kept for the debugger (``RejectedEvent``, destinations.metrics) older than the
   events window — the debugger shows nothing older (``destinations.metrics.purge``).

Each batch is one short transaction pair: the control plane's locks the workspace row (``FOR NO
KEY UPDATE``: a region move can neither start nor switch regions under it, and the region is
read under it) and its ingestion settings, whose ``purge_pending`` adds up the batch's counts;
inside it the region's deletes at most ``batch_rows`` rows of the step's table by id. No lock
is held between batches, so ingestion, deliveries and a move wait at most one batch. A
workspace being moved is left alone (the move copies its rows): the run stops there; so is one
whose deletion's purge has begun or is done (destinations.teardown).

At the end one control transaction writes the audit entry with the counts (when personal data
was removed: events, operational data, deliveries or attempts — de-duplication keys alone are
not recorded, as before), records them as the last purge, and empties ``purge_pending``. A run
that stops between its batches and its entry (a crash, a move) leaves its counts pending: the
next run's entry carries them, so nothing deleted goes unrecorded.

The entry is ``events.operational_data_purged`` (queued while the audit log's advisory lock is
on, audit/advisory.py), whose ``rows`` stay the operational rows removed; ``purged`` holds every
store's count and ``windows`` the windows applied.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connections, transaction
from django.utils import timezone

from audit.services import audit_record
from destinations.metrics.purge import rejected_events_purge
from destinations.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Event,
    EventMessageId,
    EventOperational,
    IngestionSettings,
)
from destinations.retention.selectors import STORES
from workspaces.models import Workspace
from workspaces.regions import data_atomic, workspace_db

BATCH_ROWS = 1000
# What makes a purge worth an audit entry: personal data (or what points at it) removed.
RECORDED_STORES = ("events", "operational", "deliveries", "attempts")

_EVENT = Event._meta.db_table
_OPERATIONAL = EventOperational._meta.db_table
_MESSAGE_ID = EventMessageId._meta.db_table
_DELIVERY = Delivery._meta.db_table
_ATTEMPT = DeliveryAttempt._meta.db_table

# Each step: (SQL with workspace id, cutoff, limit; selecting one count per name, the step's
# own table's first — or a function deleting up to ``limit`` rows and returning how many), the
# store names, and the window (an IngestionSettings field) it applies.
# Foreign keys are deferred (Django creates them so): parents and children go in one statement.
_STEPS = (
    (
        f"""
        WITH doomed AS (
            SELECT id FROM {_DELIVERY}
            WHERE workspace_id = %s AND created_at < %s AND status <> '{DeliveryStatus.PENDING}'
            LIMIT %s
        ),
        a AS (DELETE FROM {_ATTEMPT} WHERE delivery_id IN (SELECT id FROM doomed) RETURNING 1),
        d AS (DELETE FROM {_DELIVERY} WHERE id IN (SELECT id FROM doomed) RETURNING 1)
        SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM a)
        """,  # noqa: S608 - model tables and a constant
        ("deliveries", "attempts"),
        "delivery_retention_days",
    ),
    (
        f"""
        WITH doomed AS (
            SELECT id FROM {_EVENT} WHERE workspace_id = %s AND received_at < %s LIMIT %s
        ),
        dl AS (SELECT id FROM {_DELIVERY} WHERE event_id IN (SELECT id FROM doomed)),
        a AS (DELETE FROM {_ATTEMPT} WHERE delivery_id IN (SELECT id FROM dl) RETURNING 1),
        d AS (DELETE FROM {_DELIVERY} WHERE id IN (SELECT id FROM dl) RETURNING 1),
        o AS (DELETE FROM {_OPERATIONAL} WHERE event_id IN (SELECT id FROM doomed) RETURNING 1),
        e AS (DELETE FROM {_EVENT} WHERE id IN (SELECT id FROM doomed) RETURNING 1)
        SELECT (SELECT count(*) FROM e), (SELECT count(*) FROM o),
               (SELECT count(*) FROM d), (SELECT count(*) FROM a)
        """,  # noqa: S608 - model tables
        ("events", "operational", "deliveries", "attempts"),
        "events_retention_days",
    ),
    (
        f"""
        WITH o AS (
            DELETE FROM {_OPERATIONAL} WHERE event_id IN (
                SELECT event_id FROM {_OPERATIONAL}
                WHERE workspace_id = %s AND received_at < %s LIMIT %s
            ) RETURNING 1
        )
        SELECT count(*) FROM o
        """,  # noqa: S608 - model tables
        ("operational",),
        "operational_retention_days",
    ),
    (
        f"""
        WITH m AS (
            DELETE FROM {_MESSAGE_ID} WHERE workspace_id = %(ws)s AND message_id IN (
                SELECT message_id FROM {_MESSAGE_ID}
                WHERE workspace_id = %(ws)s AND received_at < %(cutoff)s LIMIT %(limit)s
            ) RETURNING 1
        )
        SELECT count(*) FROM m
        """,  # noqa: S608 - model tables
        ("message_ids",),
        "dedup_window_days",
    ),
    (rejected_events_purge, ("rejected",), "events_retention_days"),
)
WINDOWS = tuple(dict.fromkeys(window for _, _, window in _STEPS))


@dataclass(slots=True)
class PurgeResult:
    purged: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STORES, 0))
    batches: int = 0
    skipped: bool = False  # the workspace is being moved (or is gone): left alone
    recorded: bool = False  # an audit entry was written (or queued under the lock)


def _settings_locked(workspace) -> IngestionSettings:
    current, _ = IngestionSettings.objects.select_for_update().get_or_create(workspace=workspace)
    return current


def _locked_workspace(workspace_id: int) -> Workspace | None:
    """The workspace row, locked for this transaction; None when it is gone, moving, or being
    purged after its deletion (destinations.teardown): from the moment that purge has counted its
    rows (``purge_counts``) it deletes and reports them all, so retention deleting some meanwhile
    would count them twice; and a tombstone keeps only its audit log (no settings row is made
    for it)."""
    locked = Workspace.objects.select_for_update(no_key=True).filter(pk=workspace_id).first()
    if locked is None or locked.moving_to or locked.purged_at is not None or locked.purge_counts:
        return None
    return locked


def _execute(workspace, sql: str, cutoff: datetime, limit: int, names) -> dict[str, int]:
    params = (
        {"ws": workspace.pk, "cutoff": cutoff, "limit": limit}
        if "%(ws)s" in sql
        else [workspace.pk, cutoff, limit]
    )
    with connections[workspace_db(workspace)].cursor() as cursor:
        cursor.execute(sql, params)
        return dict(zip(names, cursor.fetchone(), strict=True))


def _batch(workspace_id: int, step: int, now: datetime, limit: int) -> dict[str, int] | None:
    """One batch of one step; its counts, or None when the workspace may not be purged."""
    sql, names, window = _STEPS[step]
    with transaction.atomic():
        locked = _locked_workspace(workspace_id)
        if locked is None:
            return None
        current = _settings_locked(locked)
        cutoff = now - timedelta(days=getattr(current, window))
        with data_atomic(locked):
            if callable(sql):  # a store whose owner deletes its own rows, batch by batch
                counts = {names[0]: sql(workspace=locked, before=cutoff, limit=limit)}
            else:
                counts = _execute(locked, sql, cutoff, limit, names)
        if any(counts.values()):
            before = current.purge_pending if isinstance(current.purge_pending, dict) else {}
            pending = Counter(before)
            pending.update(counts)
            IngestionSettings.objects.filter(pk=current.pk).update(purge_pending=dict(pending))
    return counts


def _record(workspace_id: int, *, actor, now: datetime) -> bool | None:
    """Write the run's audit entry from the pending counts and make them the last purge.
    True when an entry was written, None when the workspace may not be purged now."""
    with transaction.atomic():
        locked = _locked_workspace(workspace_id)
        if locked is None:
            return None
        current = _settings_locked(locked)
        pending = current.purge_pending if isinstance(current.purge_pending, dict) else {}
        counts = {store: int(pending.get(store, 0)) for store in STORES}
        windows = {window: getattr(current, window) for window in WINDOWS}
        recorded = any(counts[store] for store in RECORDED_STORES)
        if recorded:
            cutoff = now - timedelta(days=current.operational_retention_days)
            audit_record(
                workspace=locked,
                actor=actor,
                event_type="events.operational_data_purged",
                resource_type="event_operational",
                resource_id=locked.public_id,
                payload={
                    "rows": counts["operational"],
                    "received_before": cutoff.isoformat(),
                    "retention_days": current.operational_retention_days,
                    "purged": counts,
                    "windows": windows,
                },
            )
        IngestionSettings.objects.filter(pk=current.pk).update(
            purge_pending={},
            last_purge_at=now,
            last_purge={"counts": counts, "windows": windows, "region": locked.region},
        )
    return recorded


def retention_purge(
    *, workspace, actor, now: datetime | None = None, batch_rows: int = BATCH_ROWS
) -> PurgeResult:
    """Purge ``workspace``'s data past its retention windows (see the module's docstring)."""
    now = now or timezone.now()
    result = PurgeResult()
    for step in range(len(_STEPS)):
        while True:
            counts = _batch(workspace.pk, step, now, batch_rows)
            if counts is None:
                result.skipped = True
                return result
            result.batches += 1
            for store, rows in counts.items():
                result.purged[store] += rows
            if counts[_STEPS[step][1][0]] < batch_rows:
                break
    recorded = _record(workspace.pk, actor=actor, now=now)
    if recorded is None:
        result.skipped = True
    else:
        result.recorded = recorded
    return result
