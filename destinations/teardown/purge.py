"""The purge of a deleted workspace, once its ``purge_after`` has passed (docs/workspace-
lifecycle.md, ADR 0017).

Guarantees:

- **Everything the workspace held goes, the history stays.** Its rows in every region's data
  plane (the tables a region move knows, ``destinations.residency.tables``; deleted in every
  region, so a copy a move left behind goes too) and its data-subject requests' working data
  (privacy's own deleters), then every control-plane row that points at
  the workspace — found through the workspace's reverse relations, so a new model is purged
  without being listed here: members, invitations, keys, destinations and their secrets,
  consent, tracking plans, privacy requests, suppressions, SSO and SCIM, the subject key,
  incidents, the audit export's settings and schedule. What points at the workspace with
  ``PROTECT`` is kept: the audit log, its tree, checkpoints, signing keys and verifications,
  which hold no personal data by design. The workspace row stays as a tombstone (public id,
  region, dates; name scrubbed, slug freed) so that the log still has its workspace and still
  verifies. The last entry is ``workspace.purged`` with the rows removed per store.
- **Small batches, no long locks.** Each region's rows go in batches of ``batch_size``, one
  short transaction each (``residency.engine.delete_rows``), children first. The control
  plane's rows go in one transaction with the tombstone and the entry.
- **Resumable, with exact counts.** The rows per region and table are counted once, before the
  first batch, and kept on the workspace (``purge_counts``): a purge killed half-way is run
  again (by the next periodic run or the CLI), deletes what is left, and reports the counts it
  took at the start — nothing can be added meanwhile, since a deleted workspace takes no
  events and sends nothing. One process at a time (a session advisory lock). Once counted, the
  workspace can no longer be restored.
- **Fails closed.** A data-plane model whose table the purge does not know, still holding rows
  of the workspace, stops the purge before the control plane is touched (``PurgeIncomplete``);
  so does the audit log's advisory lock (the entry could not be written).
"""

from collections.abc import Callable
from contextlib import contextmanager

from django.apps import apps
from django.db import connections, models, transaction
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from audit.models import AuditExportConfig
from audit.selectors import audit_locked
from audit.services import audit_record
from destinations.residency.engine import count_rows, delete_rows
from destinations.residency.tables import TABLE_NAMES, TABLES
from privacy.models import DataSubjectRequest
from privacy.requests import work
from tracklayer.exceptions import ConflictError
from tracklayer.regions import REGIONS
from workspaces.models import Workspace
from workspaces.regions import CONTROL, is_data_plane, region_db

BATCH_ROWS = 1000
# pg_try_advisory_lock(key, workspace id): the first half of the key says "a purge".
PURGE_LOCK = 0x50555247

# (region, table, rows deleted by this run so far)
Progress = Callable[[str, str, int], None]


class PurgeIncomplete(ConflictError):
    code = "purge_incomplete"


def purge_refusal(workspace: Workspace, *, now, force: bool) -> str | None:
    """Why the workspace cannot be purged now (None: it can)."""
    if workspace.purged_at is not None:
        return f"{workspace} was purged on {workspace.purged_at:%Y-%m-%d}."
    if workspace.deleted_at is None:
        return f"{workspace.slug} is not deleted: delete it first."
    if not force and workspace.purge_after > now:
        return (
            f"{workspace.slug} is kept until {workspace.purge_after:%Y-%m-%d %H:%M} UTC "
            "(it can still be restored); --force purges it before that."
        )
    if audit_locked(workspace=workspace):
        return f"{workspace.slug}'s audit log is under an advisory lock: lift it first."
    return None


def workspace_purge(
    *,
    workspace: Workspace,
    actor,
    force: bool = False,
    batch_size: int = BATCH_ROWS,
    now=None,
    progress: Progress | None = None,
) -> dict:
    """Purge a deleted workspace past its ``purge_after`` (before it only with ``force``, an
    operator's decision); returns the ``workspace.purged`` entry's payload."""
    now = now or timezone.now()
    workspace = Workspace.objects.get(pk=workspace.pk)
    refusal = purge_refusal(workspace, now=now, force=force)
    if refusal:
        raise ConflictError(refusal)
    with _purging(workspace):
        counts = _counts_taken(workspace)
        for code in REGIONS:
            alias = region_db(code)
            for spec in reversed(TABLES):
                deleted = delete_rows(spec, alias, workspace.pk, batch_size)
                if progress is not None and deleted:
                    progress(code, spec.table, deleted)
        forgotten = _privacy_working_data_forget(workspace)
        _refuse_leftovers(workspace)
        return _finish(workspace, actor=actor, counts=counts, privacy_requests=forgotten)


@contextmanager
def _purging(workspace: Workspace):
    """One process at a time purges a workspace; the lock is the control database session's,
    so a killed process's lock ends with its session."""
    with connections[CONTROL].cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [PURGE_LOCK, workspace.pk])
        if not cursor.fetchone()[0]:
            raise ConflictError(f"{workspace.slug} is being purged by another process.")
    try:
        yield
    finally:
        with connections[CONTROL].cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [PURGE_LOCK, workspace.pk])


def _counts_taken(workspace: Workspace) -> dict[str, dict[str, int]]:
    """The rows per region and table when the purge began: taken by the first run, under the
    workspace's row lock (a restore then sees them and refuses), and kept for every later one."""
    with transaction.atomic(using=CONTROL):
        locked = Workspace.objects.select_for_update().get(pk=workspace.pk)
        if locked.deleted_at is None:
            raise ConflictError(f"{locked.slug} was restored meanwhile: nothing is purged.")
        if not locked.purge_counts:
            locked.purge_counts = {
                code: {
                    spec.table: count_rows(spec, region_db(code), workspace.pk) for spec in TABLES
                }
                for code in REGIONS
            }
            locked.save(update_fields=["purge_counts", "updated_at"])
        return locked.purge_counts


def _privacy_working_data_forget(workspace: Workspace) -> int:
    """The working data of the workspace's data-subject requests (their matching hashes and
    progress: privacy's own tables, deleted by privacy's own function) in every region — a
    region move leaves them in the old one; returns how many requests there were."""
    request_ids = list(
        DataSubjectRequest.objects.filter(workspace=workspace).values_list("public_id", flat=True)
    )
    if request_ids:
        for code in REGIONS:
            work.requests_forget(region_db(code), workspace.pk, request_ids)
    return len(request_ids)


def _uncovered_models() -> list[type[models.Model]]:
    """Data-plane models with a workspace column whose table the move's list does not name."""
    return [
        model
        for model in apps.get_models()
        if is_data_plane(model)
        and model._meta.db_table not in TABLE_NAMES
        and any(field.name == "workspace" for field in model._meta.concrete_fields)
    ]


def _refuse_leftovers(workspace: Workspace) -> None:
    left = sorted(
        f"{model._meta.db_table} ({code})"
        for model in _uncovered_models()
        for code in REGIONS
        if model.objects.in_region(code).filter(workspace_id=workspace.pk).exists()
    )
    if left:
        raise PurgeIncomplete(
            f"{workspace.slug} still has rows in tables the purge does not know: "
            f"{', '.join(left)}. Add them to destinations/residency/tables.py."
        )


def control_plane_relations() -> list:
    """The workspace's reverse relations whose rows the purge deletes: every control-plane
    model that points at it, except with ``PROTECT`` — the audit log's, kept."""
    return [
        relation
        for relation in Workspace._meta.get_fields(include_hidden=True)
        if relation.is_relation
        and relation.auto_created
        and not relation.concrete
        and not is_data_plane(relation.related_model)
        and relation.on_delete is not models.PROTECT
    ]


def _finish(workspace: Workspace, *, actor, counts: dict, privacy_requests: int) -> dict:
    """The control plane's rows, the tombstone and ``workspace.purged``: one transaction."""
    with transaction.atomic(using=CONTROL):
        workspace = Workspace.objects.select_for_update().get(pk=workspace.pk)
        if workspace.purged_at is not None:
            raise ConflictError(f"{workspace} was purged meanwhile.")
        control: dict[str, int] = {}
        # The export's beat task is the config's (SET_NULL): it goes with it, not after it.
        schedules = AuditExportConfig.objects.filter(workspace=workspace).values_list(
            "periodic_task_id", flat=True
        )
        _, removed = PeriodicTask.objects.filter(pk__in=list(schedules)).delete()
        _add(control, removed)
        for relation in control_plane_relations():
            manager = relation.related_model._base_manager
            _, removed = manager.filter(**{relation.field.name: workspace}).delete()
            _add(control, removed)
        now = timezone.now()
        payload = {
            "deleted_at": workspace.deleted_at,
            "purge_after": workspace.purge_after,
            "data_plane": {
                code: {table: rows for table, rows in tables.items() if rows}
                for code, tables in counts.items()
            },
            "privacy_request_working_data": privacy_requests,
            "control_plane": dict(sorted(control.items())),
        }
        workspace.name = ""
        workspace.slug = None
        workspace.moving_to = ""
        workspace.purged_at = now
        workspace.save(update_fields=["name", "slug", "moving_to", "purged_at", "updated_at"])
        audit_record(
            workspace=workspace,
            actor=actor,
            event_type="workspace.purged",
            resource_type="workspace",
            resource_id=workspace.public_id,
            payload=payload,
        )
    return payload


def _add(total: dict[str, int], removed: dict[str, int]) -> None:
    for label, rows in removed.items():
        if rows:
            total[label] = total.get(label, 0) + rows
