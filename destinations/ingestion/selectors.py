"""Reads of the event store, always scoped to a workspace — and so read from its region's
database (``Event.objects.for_workspace``, workspaces/regions.py).

Used by the events debugger (dashboard) and the events API. Events are read newest first
through the ``(workspace, -received_at)`` index; ties on ``received_at`` are broken by the
primary key, which never leaves the server (it is a global sequence: shown to a customer it
would tell them how busy the other tenants are).
"""

from datetime import datetime

from django.db.models import Exists, Max, OuterRef, Q

from destinations.models import Delivery, DeliveryStatus, Event, RejectedEvent
from tracklayer.exceptions import NotFoundError

MAX_LIMIT = 200
# How far back ``event_names_recent`` looks for names: a bounded index scan.
NAME_SAMPLE_SIZE = 1000


# What the debugger's delivery filter means, as a condition on an event's deliveries: it has
# at least one delivery that …
DELIVERY_FILTERS = {
    "delivered": Q(status=DeliveryStatus.DELIVERED),
    "pending": Q(status=DeliveryStatus.PENDING),
    "blocked": Q(status=DeliveryStatus.BLOCKED),
    "dead": Q(status=DeliveryStatus.DEAD),
    # … failed at least once and is not delivered: dead, or waiting for a retry
    "failed": Q(status=DeliveryStatus.DEAD)
    | (Q(status=DeliveryStatus.PENDING) & ~Q(last_error="")),
}


def events_recent(
    *,
    workspace,
    type: str | None = None,
    name: str | None = None,
    status: str | None = None,
    message_id: str | None = None,
    user_id_hash: str | None = None,
    delivery: str | None = None,
    received_from: datetime | None = None,
    received_until: datetime | None = None,
    since_id: str | None = None,
    before_id: str | None = None,
    after_id: str | None = None,
    limit: int = 50,
) -> list[Event]:
    """The workspace's latest events, newest first (at most ``limit``, capped at 200).

    - ``type``, ``status``, ``message_id``, ``user_id_hash`` (``pii.hashed("external_id",
      userId)``, as ingestion stores it): exact match.
    - ``name``: a case-insensitive *prefix* match, so ``order`` finds ``Order Completed`` and
      ``order_completed`` alike — a misspelt or mis-cased event name is exactly what one
      looks for in a debugger, and an exact name is its own prefix.
    - ``delivery``: one of ``DELIVERY_FILTERS`` — events with at least one such delivery.
    - ``received_from`` (inclusive) / ``received_until`` (exclusive): a time range.
    - ``since_id``: the messageId of the newest event the caller already has; only events
      received after it are returned. An unknown messageId (purged, or never seen in this
      workspace) is ignored, so a caller misses nothing.
    - ``before_id`` / ``after_id``: keyset paging — the page just older (newer) than the event
      with this messageId, newest first either way; an unknown messageId is ignored.
    """
    events = Event.objects.for_workspace(workspace)
    if type:
        events = events.filter(type=type)
    if name:
        events = events.filter(name__istartswith=name)
    if status:
        events = events.filter(status=status)
    if message_id:
        events = events.filter(message_id=message_id)
    if user_id_hash:
        events = events.filter(user_id_hash=user_id_hash)
    if delivery:
        # In the same region's database as the events: a correlated EXISTS on delivery_event.
        deliveries = Delivery.objects.for_workspace(workspace).filter(event_id=OuterRef("pk"))
        events = events.filter(Exists(deliveries.filter(DELIVERY_FILTERS[delivery])))
    if received_from is not None:
        events = events.filter(received_at__gte=received_from)
    if received_until is not None:
        events = events.filter(received_at__lt=received_until)
    newer = False
    # (messageId, older than it?, is it the page-newer anchor?); ``after_id`` only without
    # ``before_id``.
    anchors = [(since_id, False, False), (before_id, True, False)]
    if not before_id:
        anchors.append((after_id, False, True))
    for anchor_id, older, page_newer in anchors:
        anchor = _anchor(workspace=workspace, message_id=anchor_id) if anchor_id else None
        if anchor is None:
            continue
        received_at, pk = anchor
        if older:
            events = events.filter(
                Q(received_at__lt=received_at) | Q(received_at=received_at, pk__lt=pk)
            )
        else:
            events = events.filter(
                Q(received_at__gt=received_at) | Q(received_at=received_at, pk__gt=pk)
            )
        newer = newer or page_newer
    limit = max(1, min(limit, MAX_LIMIT))
    if newer:
        return list(events.order_by("received_at", "pk")[:limit])[::-1]
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


def rejected_recent(
    *,
    workspace,
    reason: str | None = None,
    received_from: datetime | None = None,
    received_until: datetime | None = None,
    before: tuple[datetime, int] | None = None,
    limit: int = 50,
) -> list[RejectedEvent]:
    """The workspace's latest refused events, newest first (at most ``limit``, capped at 200),
    kept for the events retention window: what was refused and why — names and reason codes,
    never a value sent (destinations.metrics keeps no more). ``reason``: one reason code.

    ``before``: ``(received_at, skip)`` from a previous page — the rows older than its last
    row: those received before ``received_at``, after the ``skip`` rows received at that very
    instant that it already showed (a batch's refusals share their time; no internal id
    leaves the server)."""
    rows = RejectedEvent.objects.for_workspace(workspace)
    if reason:
        rows = rows.filter(reason=reason)
    if received_from is not None:
        rows = rows.filter(received_at__gte=received_from)
    if received_until is not None:
        rows = rows.filter(received_at__lt=received_until)
    limit = max(1, min(limit, MAX_LIMIT))
    skip = 0
    if before is not None:
        until, skip = before
        rows = rows.filter(received_at__lte=until)
        skip = max(0, min(skip, 10_000))
    page = list(rows.order_by("-received_at", "-pk")[: limit + skip])
    if skip:
        at = before[0]
        tied = sum(1 for row in page[:skip] if row.received_at == at)
        page = page[tied:]
    return page[:limit]
