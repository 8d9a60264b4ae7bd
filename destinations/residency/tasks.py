"""The region move's Celery task. Its name is ``destinations.tasks.region_move_run`` (the
Django admin sends it by name: workspaces may not import destinations); destinations/tasks.py
imports it so that a worker registers it."""

from celery import shared_task

from destinations.residency import services
from tracklayer.exceptions import DomainError
from workspaces.actors import SystemActor
from workspaces.models import RegionMove

ACTOR = SystemActor("scheduler")


@shared_task(name="destinations.tasks.region_move_run")
def region_move_run(move_public_id: str) -> None:
    """Carry an open move on to its end (a failed verification ends it as failed, recorded)."""
    move = RegionMove.objects.filter(public_id=move_public_id).first()
    if move is None:
        return
    try:
        services.region_move_run(move=move, actor=ACTOR)
    except DomainError:
        # Failed verification: the move's state, error and audit entry say what happened.
        # Running in another process already: that process carries it on.
        return
