"""The control plane's side of moving a workspace between regions (docs/regions.md).

Starting a move touches the control database only — a ``RegionMove`` row, the workspace's
``moving_to`` and the audit entry — so it lives here, where the Django admin can call it; the
copy, the verification, the switch and the clean-up are ``destinations.residency``'s, and the
admin hands them to a worker by the task's name.
"""

from django.apps import apps
from django.db import transaction

from audit.services import audit_record
from tracklayer.exceptions import ConflictError, DomainError, PermissionDeniedError
from tracklayer.regions import REGIONS
from workspaces.actors import SystemActor, actor_ref
from workspaces.models import RegionMove, RegionMoveState, User, Workspace
from workspaces.regions import is_data_plane

OPEN_STATES = (RegionMoveState.COPYING, RegionMoveState.CLEANING)
# Staff move workspaces with the admin's "change workspace" permission; a role in the workspace
# is not enough (where the data lives is the operator's decision, not the customer's).
MOVE_PERMISSION = "workspaces.change_workspace"


def region_move_open(workspace: Workspace) -> RegionMove | None:
    """The workspace's move that is still copying or cleaning up, if any."""
    return RegionMove.objects.filter(workspace=workspace, state__in=OPEN_STATES).first()


def data_plane_counts(workspace: Workspace) -> dict[str, int]:
    """The workspace's rows per data-plane table in its region (what a move copies), found
    through the models' ``data_plane`` mark, so the control plane names no data-plane model."""
    return {
        model._meta.db_table: model.objects.for_workspace(workspace).count()
        for model in apps.get_models()
        if is_data_plane(model)
    }


def may_move(actor) -> bool:
    if isinstance(actor, SystemActor):
        return True  # the CLI and workers act with the operator's authority
    return isinstance(actor, User) and actor.is_staff and actor.has_perm(MOVE_PERMISSION)


@transaction.atomic
def region_move_start(*, workspace: Workspace, actor, target: str) -> RegionMove:
    """Open a move of ``workspace`` to ``target``: ingestion answers 503 from here on (within
    the runtime cache's TTL), workers leave the workspace alone, the copy may begin. An open
    move to the same target is returned as it is (the caller resumes it)."""
    if not may_move(actor):
        raise PermissionDeniedError("Moving a workspace between regions is for staff only.")
    if target not in REGIONS:
        raise DomainError(
            f"Unknown region {target!r} (regions: {', '.join(REGIONS)}).", field="target"
        )
    workspace = Workspace.objects.select_for_update().get(pk=workspace.pk)
    if workspace.deleted_at is not None:
        raise ConflictError(f"{workspace} is deleted: its data is not moved, it is purged.")
    open_move = region_move_open(workspace)
    if open_move is not None:
        if open_move.target != target:
            raise ConflictError(
                f"{workspace.slug} is already moving to {open_move.target} "
                f"({open_move.public_id}); resume that move with --to {open_move.target}.",
                field="target",
            )
        return open_move
    if target == workspace.region:
        raise DomainError(f"{workspace.slug} already lives in {target}.", field="target")
    move = RegionMove.objects.create(
        workspace=workspace,
        source=workspace.region,
        target=target,
        state=RegionMoveState.COPYING,
        requested_by=actor_ref(actor),
    )
    workspace.moving_to = target
    workspace.save(update_fields=["moving_to"])
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="workspace.region_move_started",
        resource_type="workspace",
        resource_id=workspace.public_id,
        payload={"move": move.public_id, "source": move.source, "target": move.target},
    )
    return move
