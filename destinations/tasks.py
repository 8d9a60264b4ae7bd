"""Celery tasks of the destinations app. Thin: re-fetch by id, call one service. Their names
(``destinations.tasks.<function>``) are stored in beat's schedule and named by
``destinations.delivery.scheduling``: keep them. The tasks that work on a region's data plane
take the region (or find it from the destination) and are sent to that region's queue
(``scheduling.region_queue``); an argument added since is optional, so that a message or a
schedule from before still runs."""

from celery import shared_task

from destinations.delivery import scheduling
from destinations.metrics.purge import figures_purge_expired

# The region move's task lives with the move, and the purge of deleted workspaces with the
# teardown; imported here so a worker registers them under the names the Django admin and beat
# send by ("destinations.tasks.region_move_run", "destinations.tasks.workspaces_purge_due").
from destinations.residency.tasks import region_move_run  # noqa: F401
from destinations.retention.purge import retention_purge
from destinations.teardown.tasks import workspaces_purge_due  # noqa: F401
from tracklayer.regions import REGIONS
from workspaces.actors import SystemActor
from workspaces.models import Workspace

ACTOR = SystemActor("scheduler")


@shared_task
def events_purge_expired_all() -> None:
    """Queue the retention purge of every workspace, region by region, each on its region's
    queue (beat's ``events-purge``, hourly). The workspaces come from the control plane: no
    scan of a region's tables to find who has rows. A purged workspace (a tombstone that keeps
    only its audit log, destinations.teardown) has nothing left to purge and is not queued."""
    for region in REGIONS:
        workspace_ids = (
            Workspace.objects.filter(region=region, purged_at__isnull=True)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        for workspace_id in workspace_ids:
            retention_purge_task.apply_async(
                args=[workspace_id], queue=scheduling.region_queue(region)
            )


@shared_task
def retention_purge_task(workspace_id: int) -> None:
    """One workspace's retention purge (destinations.retention.purge: every window, in
    batches, in its region); a workspace deleted since it was queued is skipped."""
    workspace = Workspace.objects.filter(pk=workspace_id).first()
    if workspace is not None:
        retention_purge(workspace=workspace, actor=ACTOR)


@shared_task
def figures_purge_task(region: str) -> int:
    """Forget a region's minute figures past their retention (beat's ``figures-purge-<code>``,
    hourly, on the region's queue; docs/monitoring.md)."""
    return figures_purge_expired(region=region)


# --- Delivery (docs/delivery.md) ------------------------------------------------------------------


@shared_task
def events_fanout_task(region: str | None = None) -> None:
    scheduling.events_fanout_rounds(region=region)


@shared_task
def destination_deliver_task(destination_id: int) -> None:
    scheduling.destination_deliver_queued(destination_id)


@shared_task
def deliveries_sweep(region: str | None = None) -> None:
    scheduling.deliveries_sweep(region=region)
