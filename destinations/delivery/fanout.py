"""Fan-out: an accepted event gets one ``Delivery`` per matching destination, in the
transaction that clears its ``fanout_pending`` marker (so an event is fanned out once, and a
crashed worker's batch is fanned out again). Docs: docs/delivery.md."""

from django.db import connection, transaction
from django.utils import timezone

from destinations.delivery.mapping import event_token
from destinations.models import Destination, Event

FANOUT_BATCH = 1000


def destination_matches(destination: Destination, event_type: str, name: str) -> bool:
    """Whether an event goes to ``destination``: its filter lists track event names and
    ``$page`` / ``$screen`` / ``$identify`` …; an empty filter takes track and page events."""
    if not destination.event_filter:
        return event_type in {"track", "page"}
    return event_token(event_type, name) in destination.event_filter


def events_fanout(*, limit: int = FANOUT_BATCH) -> tuple[int, set[int]]:
    """Create the deliveries of up to ``limit`` events still marked for fan-out, and clear
    their marker, in one transaction. Returns how many events were fanned out and the ids of
    the destinations that got work."""
    now = timezone.now()
    with transaction.atomic():
        events = list(
            Event.objects.filter(fanout_pending=True)
            .order_by("received_at")
            .select_for_update(skip_locked=True)
            .only("id", "workspace_id", "type", "name")[:limit]
        )
        if not events:
            return 0, set()
        workspace_ids = {event.workspace_id for event in events}
        destinations: dict[int, list[Destination]] = {}
        for destination in Destination.objects.filter(
            workspace_id__in=workspace_ids, deleted_at__isnull=True
        ):
            destinations.setdefault(destination.workspace_id, []).append(destination)
        pairs = [
            (event, destination)
            for event in events
            for destination in destinations.get(event.workspace_id, ())
            if destination_matches(destination, event.type, event.name)
        ]
        if pairs:
            with connection.cursor() as cursor:
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
        Event.objects.filter(pk__in=[event.pk for event in events]).update(fanout_pending=False)
    return len(events), {destination.pk for _, destination in pairs}
