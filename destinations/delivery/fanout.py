"""Fan-out: an accepted event gets one ``Delivery`` per matching destination, in the
transaction that clears its ``fanout_pending`` marker (so an event is fanned out once, and a
crashed worker's batch is fanned out again). Each region fans out on its own data plane; the
destinations are read from the control plane by workspace id. Docs: docs/delivery.md."""

from django.db import connections, transaction
from django.utils import timezone

from destinations.delivery.mapping import event_token
from destinations.models import Destination, Event
from tracklayer.regions import REGIONS
from workspaces.models import Workspace
from workspaces.regions import region_db

FANOUT_BATCH = 1000


def destination_matches(destination: Destination, event_type: str, name: str) -> bool:
    """Whether an event goes to ``destination``: its filter lists track event names and
    ``$page`` / ``$screen`` / ``$identify`` …; an empty filter takes track and page events."""
    if not destination.event_filter:
        return event_type in {"track", "page"}
    return event_token(event_type, name) in destination.event_filter


def moving_workspace_ids(workspace_ids=None) -> set[int]:
    """The workspaces (of ``workspace_ids``, or all) whose data plane a region move is copying:
    no worker fans out, delivers or purges their rows until the move is over (control plane)."""
    moving = Workspace.objects.exclude(moving_to="")
    if workspace_ids is not None:
        moving = moving.filter(pk__in=list(workspace_ids))
    return set(moving.values_list("pk", flat=True))


def events_fanout(*, region: str | None = None, limit: int = FANOUT_BATCH) -> tuple[int, set[int]]:
    """Create the deliveries of up to ``limit`` events of ``region`` still marked for fan-out,
    and clear their marker, in one transaction of that region's database. Without a region:
    one such batch in every region (the counts added up). Returns how many events were fanned
    out and the ids of the destinations that got work. Events of a workspace that is moving
    are left alone, marker and all."""
    if region is None:
        count, touched = 0, set()
        for code in REGIONS:
            region_count, region_touched = events_fanout(region=code, limit=limit)
            count, touched = count + region_count, touched | region_touched
        return count, touched
    alias = region_db(region)
    now = timezone.now()
    moving = moving_workspace_ids()
    with transaction.atomic(using=alias):
        events = list(
            Event.objects.in_region(region)
            .filter(fanout_pending=True)
            .exclude(workspace_id__in=moving)
            .order_by("received_at")
            .select_for_update(skip_locked=True)
            .only("id", "workspace_id", "type", "name")[:limit]
        )
        if not events:
            return 0, set()
        workspace_ids = {event.workspace_id for event in events}
        # A move may have started since ``moving`` was read: its workspaces wait too (the move
        # verifies counts and checksums, so a batch committed under its feet fails it loudly).
        moving = moving_workspace_ids(workspace_ids)
        events = [event for event in events if event.workspace_id not in moving]
        destinations: dict[int, list[Destination]] = {}
        for destination in Destination.objects.filter(
            workspace_id__in=workspace_ids - moving, deleted_at__isnull=True
        ):
            destinations.setdefault(destination.workspace_id, []).append(destination)
        pairs = [
            (event, destination)
            for event in events
            for destination in destinations.get(event.workspace_id, ())
            if destination_matches(destination, event.type, event.name)
        ]
        if pairs:
            with connections[alias].cursor() as cursor:
                cursor.execute(
                    """
                    INSERT INTO destinations_delivery
                        (workspace_id, destination_id, event_id, status, attempts,
                         next_attempt_at, decision, last_error, dead_reason, created_at,
                         updated_at)
                    SELECT w, d, e, 'pending', 0, %s, '{}'::jsonb, '', '', %s, %s
                    FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[]) AS t(w, d, e)
                    ON CONFLICT (destination_id, event_id) DO NOTHING
                    """,
                    [
                        now,
                        now,
                        now,
                        [event.workspace_id for event, _ in pairs],
                        [destination.pk for _, destination in pairs],
                        [event.pk for event, _ in pairs],
                    ],
                )
        Event.objects.in_region(region).filter(pk__in=[event.pk for event in events]).update(
            fanout_pending=False
        )
    return len(events), {destination.pk for _, destination in pairs}
