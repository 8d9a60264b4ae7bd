"""Forgetting monitoring data: rejected events after the debugger's window (the workspace's
events retention, as for the events the debugger shows), minute figures after
``FIGURES_RETENTION_DAYS``. Both delete at most ``limit`` rows per call, oldest first, so a
periodic purge can call them batch by batch in short transactions (a short count means done).
"""

from datetime import datetime, timedelta

from django.db import connections
from django.utils import timezone

from destinations.models import MinuteFigure, RejectedEvent
from workspaces.models import Workspace
from workspaces.regions import region_db, workspace_db

# The detectors' baselines reach back four weeks (docs/monitoring.md); the Overview seven days.
FIGURES_RETENTION_DAYS = 90
BATCH_ROWS = 1000

_REJECTED = RejectedEvent._meta.db_table
_FIGURE = MinuteFigure._meta.db_table


def rejected_events_purge(
    *, workspace: Workspace, before: datetime, limit: int = BATCH_ROWS
) -> int:
    """Delete up to ``limit`` of ``workspace``'s rejected events received before ``before``,
    in its region; returns how many went."""
    with connections[workspace_db(workspace)].cursor() as cursor:
        cursor.execute(
            f"""
            DELETE FROM {_REJECTED} WHERE id IN (
                SELECT id FROM {_REJECTED}
                WHERE workspace_id = %s AND received_at < %s
                ORDER BY received_at LIMIT %s
            )
            """,  # noqa: S608 - the model's table
            [workspace.pk, before, limit],
        )
        return cursor.rowcount


def figures_purge(*, region: str, before: datetime, limit: int = 10 * BATCH_ROWS) -> int:
    """Delete up to ``limit`` minute figures of every workspace of ``region`` older than
    ``before``; returns how many went."""
    with connections[region_db(region)].cursor() as cursor:
        cursor.execute(
            f"""
            DELETE FROM {_FIGURE} WHERE id IN (
                SELECT id FROM {_FIGURE} WHERE minute < %s LIMIT %s
            )
            """,  # noqa: S608 - the model's table
            [before, limit],
        )
        return cursor.rowcount


def figures_purge_expired(*, region: str, now: datetime | None = None) -> int:
    """Every minute figure of ``region`` past ``FIGURES_RETENTION_DAYS``, batch by batch (each
    batch its own short statement in autocommit); returns how many went. The periodic task's
    body, one call per region."""
    before = (now or timezone.now()) - timedelta(days=FIGURES_RETENTION_DAYS)
    total = 0
    while True:
        deleted = figures_purge(region=region, before=before)
        total += deleted
        if deleted < 10 * BATCH_ROWS:
            return total
