"""Reads of the event store, always scoped to a workspace — and so read from its region's
database (``Event.objects.for_workspace``, workspaces/regions.py).

Used by the events debugger (dashboard) and the events API. Events are read newest first
through the ``(workspace, -received_at)`` index; ties on ``received_at`` are broken by the
primary key, which never leaves the server (it is a global sequence: shown to a customer it
would tell them how busy the other tenants are).
"""

from django.db.models import Max, Q

from destinations.models import Event
from tracklayer.exceptions import NotFoundError

MAX_LIMIT = 200
# How far back ``event_names_recent`` looks for names: a bounded index scan.
NAME_SAMPLE_SIZE = 1000


def events_recent(
    *,
    workspace,
    type: str | None = None,
    name: str | None = None,
    status: str | None = None,
    since_id: str | None = None,
    limit: int = 50,
) -> list[Event]:
    """The workspace's latest events, newest first (at most ``limit``, capped at 200).

    - ``type``, ``status``: exact match.
    - ``name``: a case-insensitive *prefix* match, so ``order`` finds ``Order Completed`` and
      ``order_completed`` alike — a misspelt or mis-cased event name is exactly what one
      looks for in a debugger, and an exact name is its own prefix.
    - ``since_id``: the messageId of the newest event the caller already has; only events
      received after it are returned. An unknown messageId (purged, or never seen in this
      workspace) is ignored, so a caller misses nothing.
    """
    events = Event.objects.for_workspace(workspace)
    if type:
        events = events.filter(type=type)
    if name:
        events = events.filter(name__istartswith=name)
    if status:
        events = events.filter(status=status)
    if since_id:
        anchor = _anchor(workspace=workspace, message_id=since_id)
        if anchor is not None:
            received_at, pk = anchor
            events = events.filter(
                Q(received_at__gt=received_at) | Q(received_at=received_at, pk__gt=pk)
            )
    limit = max(1, min(limit, MAX_LIMIT))
    return list(events.order_by("-received_at", "-pk")[:limit])


def event_get(*, workspace, message_id: str) -> Event:
    """The workspace's event with this messageId; ``NotFoundError`` when there is none.

    De-duplication holds a messageId for the workspace's de-duplication window only, so after
    it a client may reuse one: the newest event with the id is the one returned.
    """
    event = (
        Event.objects.for_workspace(workspace)
        .filter(message_id=message_id)
        .order_by("-received_at", "-pk")
        .first()
    )
    if event is None:
        # The id is not repeated: whoever asked already knows it.
        raise NotFoundError("No event with this messageId in this workspace.")
    return event


def event_names_recent(*, workspace, limit: int = 50) -> list[str]:
    """Event names seen among the workspace's latest events, most recently used first
    (suggestions for the debugger's name filter; events without a name are left out)."""
    events = Event.objects.for_workspace(workspace)
    recent = events.order_by("-received_at").values("pk")[:NAME_SAMPLE_SIZE]
    rows = (
        events.filter(pk__in=recent)
        .exclude(name="")
        .values("name")
        .annotate(last_seen=Max("received_at"))
        .order_by("-last_seen", "name")[:limit]
    )
    return [row["name"] for row in rows]


def _anchor(*, workspace, message_id: str) -> tuple | None:
    return (
        Event.objects.for_workspace(workspace)
        .filter(message_id=message_id)
        .order_by("-received_at", "-pk")
        .values_list("received_at", "pk")
        .first()
    )
