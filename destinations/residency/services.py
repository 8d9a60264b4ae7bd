"""Moving a workspace's data plane to another region, and adopting the rows the control
database kept from before regions (docs/regions.md).

A move is a ``RegionMove`` walked through its states; every step can be interrupted and run
again (``region_move_run`` picks the move up where its state and the target's rows say):

1. start (``workspaces.region_moves.region_move_start``): the move opens, ``moving_to`` is set
   and ingestion answers 503 — the control plane only;
2. quiesce: wait out the ingestion runtime's cache, then the delivery batches in flight;
3. copy and verify, table by table (``destinations.residency.engine``), each table's figures
   stored on the move as it passes;
4. switch: the workspace's region is the target, in one control-plane transaction;
5. delete the source's copy, then done.

The audit entries carry ids, regions, row counts and checksums — never a row's data.
"""

import time
from contextlib import contextmanager

from django.db import connections, transaction
from django.utils import timezone

from audit.services import audit_record
from destinations.ingestion import runtime
from destinations.residency.engine import (
    Figures,
    Progress,
    VerificationFailed,
    copy_and_verify,
    count_rows,
    delete_rows,
    delete_workspace_rows,
    figures,
)
from destinations.residency.tables import TABLE_NAMES, TABLES, dependents
from tracklayer.exceptions import ConflictError, DomainError
from tracklayer.regions import REGIONS
from workspaces.models import RegionMove, RegionMoveState, Workspace
from workspaces.region_moves import region_move_open, region_move_start
from workspaces.regions import CONTROL, region_db, workspace_db

BATCH_SIZE = 10_000
# A process reads a workspace's state (``moving_to`` among it) at most ``runtime.TTL`` seconds
# late; one second more covers a write that read it just before it expired.
QUIESCE_SECONDS = runtime.TTL + 1


class RegionMoveFailed(DomainError):
    code = "region_move_failed"
    status = 409


def region_move(
    *,
    workspace: Workspace,
    actor,
    target: str,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
) -> RegionMove:
    """Move ``workspace`` to ``target``, or resume its open move there, to the end."""
    move = region_move_start(workspace=workspace, actor=actor, target=target)
    return region_move_run(move=move, actor=actor, batch_size=batch_size, progress=progress)


def region_move_run(
    *,
    move: RegionMove,
    actor,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
) -> RegionMove:
    """Carry ``move`` on from its state: copying (quiesce, copy and verify what is not yet
    verified, switch), then cleaning (delete the source's rows). A done or failed move is
    returned as it is. A verification that still fails after one more copy ends the move as
    failed (the target's copy deleted, the workspace where it was) and raises
    ``RegionMoveFailed``."""
    with _running(move):
        move = RegionMove.objects.get(pk=move.pk)
        _carry_on(move, actor=actor, batch_size=batch_size, progress=progress)
    return move


# pg_try_advisory_lock(key, move id): the first half of the key says "a region move".
MOVE_LOCK = 0x4D4F5645


@contextmanager
def _running(move: RegionMove):
    """One process at a time carries a move on (the CLI run again while the admin's task
    still runs, say). The lock is the control database session's: a killed process's
    session ends, and its lock with it."""
    with connections[CONTROL].cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [MOVE_LOCK, move.pk])
        if not cursor.fetchone()[0]:
            raise ConflictError(f"The move {move.public_id} is running in another process.")
    try:
        yield
    finally:
        with connections[CONTROL].cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [MOVE_LOCK, move.pk])


def _carry_on(move: RegionMove, *, actor, batch_size: int, progress: Progress | None) -> None:
    if move.state == RegionMoveState.COPYING:
        _quiesce(move)
        try:
            _copy(move, batch_size=batch_size, progress=progress)
        except VerificationFailed as failure:
            _fail(move, actor=actor, failure=failure, batch_size=batch_size)
            raise RegionMoveFailed(f"The move {move.public_id} failed: {failure}") from None
        _switch(move, actor=actor)
    if move.state == RegionMoveState.CLEANING:
        _clean(move, actor=actor, batch_size=batch_size)


def _quiesce(move: RegionMove) -> None:
    """Ingestion answers 503 once every process has seen ``moving_to``; delivery workers skip
    the workspace, and a batch that claimed its deliveries before holds their row locks in the
    source until it commits (docs/adr/0014): taking the same locks once waits it out."""
    waited = (timezone.now() - move.created_at).total_seconds()
    if waited < QUIESCE_SECONDS:
        time.sleep(QUIESCE_SECONDS - waited)
    source = region_db(move.source)
    with transaction.atomic(using=source), connections[source].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM (SELECT d.id FROM destinations_delivery d "
            "WHERE d.workspace_id = %s AND d.status = 'pending' FOR UPDATE) locked",
            [move.workspace_id],
        )


def _copy(move: RegionMove, *, batch_size: int, progress: Progress | None) -> None:
    source = region_db(move.source)
    for _round in range(2):
        for spec in TABLES:
            if spec.table in move.tables:
                continue  # verified by an earlier run or round
            verified = copy_and_verify(
                spec,
                source=source,
                target=region_db(move.target),
                workspace_id=move.workspace_id,
                batch_size=batch_size,
                progress=progress,
            )
            move.tables = {**move.tables, spec.table: verified.as_dict()}
            move.save(update_fields=["tables"])
        # A write that began before every process saw the move can commit after its table was
        # verified: a table whose source count changed since is verified again (with the
        # tables pointing at it, which a second copy of it deletes in the target first).
        stale = {
            dependent.table
            for spec in TABLES
            if count_rows(spec, source, move.workspace_id) != move.tables[spec.table]["rows"]
            for dependent in dependents(spec.table)
        }
        if not stale:
            return
        move.tables = {table: f for table, f in move.tables.items() if table not in stale}
        move.save(update_fields=["tables"])
    # Still changing after a second round: something writes to the source of a moving workspace.
    spec = next(spec for spec in TABLES if spec.table in stale)
    raise VerificationFailed(
        spec.table,
        figures(spec, source, move.workspace_id),
        figures(spec, region_db(move.target), move.workspace_id),
    )


def _switch(move: RegionMove, *, actor) -> None:
    """From here the target is the truth: ingestion and delivery go there."""
    with transaction.atomic(using=CONTROL):
        workspace = Workspace.objects.select_for_update().get(pk=move.workspace_id)
        workspace.region = move.target
        workspace.moving_to = ""
        workspace.save(update_fields=["region", "moving_to"])
        move.state = RegionMoveState.CLEANING
        move.switched_at = timezone.now()
        move.save(update_fields=["state", "switched_at"])
        audit_record(
            workspace=workspace,
            actor=actor,
            event_type="workspace.region_moved",
            resource_type="workspace",
            resource_id=workspace.public_id,
            payload={
                "move": move.public_id,
                "source": move.source,
                "target": move.target,
                "tables": move.tables,
            },
        )


def _clean(move: RegionMove, *, actor, batch_size: int) -> None:
    """Delete the source's rows, children first. A run that resumes counts as deleted what
    was verified and is gone (nothing else writes to the source's copy after the switch)."""
    source = region_db(move.source)
    for spec in reversed(TABLES):
        remaining = count_rows(spec, source, move.workspace_id)
        verified = move.tables.get(spec.table, {}).get("rows", 0)
        gone = max(0, verified - remaining)
        deleted = gone + delete_rows(spec, source, move.workspace_id, batch_size)
        move.deleted = {**move.deleted, spec.table: deleted}
        move.save(update_fields=["deleted"])
    with transaction.atomic(using=CONTROL):
        workspace = Workspace.objects.select_for_update().get(pk=move.workspace_id)
        move.state = RegionMoveState.DONE
        move.finished_at = timezone.now()
        move.save(update_fields=["state", "finished_at"])
        audit_record(
            workspace=workspace,
            actor=actor,
            event_type="workspace.region_move_completed",
            resource_type="workspace",
            resource_id=workspace.public_id,
            payload={"move": move.public_id, "deleted": move.deleted},
        )


def _fail(move: RegionMove, *, actor, failure: VerificationFailed, batch_size: int) -> None:
    """The workspace stays where it was: the target's copy goes, ingestion resumes."""
    delete_workspace_rows(region_db(move.target), move.workspace_id, batch_size)
    with transaction.atomic(using=CONTROL):
        workspace = Workspace.objects.select_for_update().get(pk=move.workspace_id)
        workspace.moving_to = ""
        workspace.save(update_fields=["moving_to"])
        move.state = RegionMoveState.FAILED
        move.error = str(failure)
        move.finished_at = timezone.now()
        move.save(update_fields=["state", "error", "finished_at"])
        audit_record(
            workspace=workspace,
            actor=actor,
            event_type="workspace.region_move_failed",
            resource_type="workspace",
            resource_id=workspace.public_id,
            payload={
                "move": move.public_id,
                "source": move.source,
                "target": move.target,
                "table": failure.table,
                "source_figures": failure.source.as_dict(),
                "target_figures": failure.target.as_dict(),
            },
        )


# --- The control database's data plane from before regions ------------------------------------


def legacy_tables() -> list[str]:
    """The data-plane tables the control database still has (destinations migration 0004
    drops them only when empty), in copy order."""
    existing = set(connections[CONTROL].introspection.table_names())
    return [spec.table for spec in TABLES if spec.table in existing]


def legacy_counts() -> dict[int, dict[str, int]]:
    """Rows per workspace id and legacy table."""
    present = legacy_tables()
    counts: dict[int, dict[str, int]] = {}
    with connections[CONTROL].cursor() as cursor:
        for table in present:
            if table == "destinations_deliveryattempt":
                if "destinations_delivery" not in present:
                    continue
                cursor.execute(
                    "SELECT d.workspace_id, count(*) FROM destinations_deliveryattempt t "
                    "JOIN destinations_delivery d ON d.id = t.delivery_id GROUP BY 1"
                )
            else:
                cursor.execute(f"SELECT workspace_id, count(*) FROM {table} GROUP BY 1")  # noqa: S608
            for workspace_id, rows in cursor.fetchall():
                counts.setdefault(workspace_id, {})[table] = rows
    return counts


def adopt_legacy(
    *, actor, batch_size: int = BATCH_SIZE, progress: Progress | None = None
) -> dict[str, dict[str, dict]]:
    """Copy every workspace's rows from the control database's legacy tables into its
    region's database with the move's engine, verify them, audit per workspace
    (``workspace.data_plane_adopted``), then drop the legacy tables. Returns the verified
    figures per workspace slug. Run it before the new release serves traffic: the region's
    database must not hold new rows of the workspace yet. Interrupted, it is run again: what
    a region already holds is not copied twice."""
    present = legacy_tables()
    counts = legacy_counts()
    workspaces = Workspace.objects.in_bulk(list(counts))
    unknown = sorted(set(counts) - set(workspaces))
    if unknown:
        raise DomainError(
            "The legacy tables hold rows of workspaces that no longer exist "
            f"(ids {', '.join(map(str, unknown))}); nothing was moved or dropped."
        )
    for workspace in workspaces.values():
        _refuse_new_rows(workspace)
    adopted = {}
    for workspace_id in sorted(workspaces):
        workspace = workspaces[workspace_id]
        verified: dict[str, Figures] = {}
        for spec in TABLES:
            if spec.table not in present:
                continue
            try:
                verified[spec.table] = copy_and_verify(
                    spec,
                    source=CONTROL,
                    target=workspace_db(workspace),
                    workspace_id=workspace.pk,
                    batch_size=batch_size,
                    progress=progress,
                )
            except VerificationFailed as failure:
                raise DomainError(
                    f"{workspace.slug}: {failure}. Nothing was dropped; run it again."
                ) from None
        tables = {table: agreed.as_dict() for table, agreed in verified.items()}
        with transaction.atomic(using=CONTROL):
            audit_record(
                workspace=workspace,
                actor=actor,
                event_type="workspace.data_plane_adopted",
                resource_type="workspace",
                resource_id=workspace.public_id,
                payload={"region": workspace.region, "tables": tables},
            )
        adopted[workspace.slug] = tables
    with transaction.atomic(using=CONTROL), connections[CONTROL].cursor() as cursor:
        for table in reversed(present):
            cursor.execute(f"DROP TABLE {table} CASCADE")
    return adopted


def _refuse_new_rows(workspace: Workspace) -> None:
    """Legacy ids are below every region's block; an event numbered from the region's block
    means the new release already wrote there, and the copy could not tell the two apart."""
    start = REGIONS[workspace.region].id_start
    with connections[workspace_db(workspace)].cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM destinations_event WHERE workspace_id = %s AND id >= %s)",
            [workspace.pk, start],
        )
        if cursor.fetchone()[0]:
            raise DomainError(
                f"{workspace.slug}'s region ({workspace.region}) already holds new events: "
                "adopt-legacy runs before the new release serves traffic (docs/regions.md)."
            )


__all__ = [
    "BATCH_SIZE",
    "TABLES",
    "TABLE_NAMES",
    "RegionMoveFailed",
    "adopt_legacy",
    "legacy_counts",
    "legacy_tables",
    "region_move",
    "region_move_open",
    "region_move_run",
]
