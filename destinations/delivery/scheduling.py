"""What is due, and telling the workers about it.

The database is the queue's truth (pending deliveries with their ``next_attempt_at``); Celery
tasks only say "look now". A kick after ingestion, a resume or a replay asks for work at once;
the periodic sweep (``deliveries_sweep``, every few seconds) finds whatever a lost message
left behind. Tasks are named, not imported: ``destinations.tasks`` is the edge that calls
this module, and its task names are stored in beat's schedule.
"""

import logging
import time
from datetime import datetime

from celery import current_app
from django.conf import settings
from django.db import connection
from django.utils import timezone

from destinations.delivery.engine import destination_deliver
from destinations.delivery.fanout import FANOUT_BATCH, events_fanout
from destinations.models import Delivery, DeliveryStatus, Event
from tracklayer.redis_client import key_prefix, redis_client

log = logging.getLogger(__name__)

FANOUT_TASK = "destinations.tasks.events_fanout_task"
DELIVER_TASK = "destinations.tasks.destination_deliver_task"
FANOUT_ROUNDS = 50  # events per task: up to 50 × 1,000; the sweep continues from there
KICK_INTERVAL = 0.25
_last_kick = 0.0


def due_destination_ids(*, now: datetime | None = None) -> list[int]:
    """Active destinations with deliveries due now (the sweep's work list)."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT d.id FROM destinations_destination AS d
            WHERE d.deleted_at IS NULL AND d.state = 'active'
              AND (d.circuit_open_until IS NULL OR d.circuit_open_until <= %s)
              AND EXISTS (
                  SELECT 1 FROM destinations_delivery AS x
                  WHERE x.destination_id = d.id AND x.status = 'pending'
                    AND x.next_attempt_at <= %s
              )
            """,
            [now, now],
        )
        return [row[0] for row in cursor.fetchall()]


def has_due(destination_id: int, *, now: datetime | None = None) -> bool:
    return Delivery.objects.filter(
        destination_id=destination_id,
        status=DeliveryStatus.PENDING,
        next_attempt_at__lte=now or timezone.now(),
    ).exists()


def destination_deliver_enqueue(destination_id: int) -> None:
    """Queue one delivery task for a destination unless one is queued already."""
    if redis_client().set(f"{key_prefix()}:deliver-queued:{destination_id}", 1, nx=True, ex=30):
        current_app.send_task(DELIVER_TASK, args=[destination_id])


def events_fanout_rounds() -> None:
    """Fan out what is pending (up to ``FANOUT_ROUNDS`` batches) and queue the destinations
    that got work."""
    touched: set[int] = set()
    for _ in range(FANOUT_ROUNDS):
        count, destination_ids = events_fanout()
        touched |= destination_ids
        if count < FANOUT_BATCH:
            break
    for destination_id in sorted(touched):
        destination_deliver_enqueue(destination_id)


def destination_deliver_queued(destination_id: int) -> None:
    """Deliver one batch of a queued destination, and queue it again while more is due."""
    redis_client().delete(f"{key_prefix()}:deliver-queued:{destination_id}")
    result = destination_deliver(destination_id=destination_id)
    if result.more or (result.claimed and not result.busy and has_due(destination_id)):
        destination_deliver_enqueue(destination_id)


def deliveries_sweep() -> None:
    """The safety net: whatever the broker lost (a Redis restart, a killed worker) is in the
    database, and this finds it every few seconds."""
    if Event.objects.filter(fanout_pending=True).exists():
        current_app.send_task(FANOUT_TASK)
    for destination_id in due_destination_ids():
        destination_deliver_enqueue(destination_id)


def delivery_kick(*, destination_id: int | None = None) -> None:
    """Ask the workers to fan out and deliver now rather than at the next sweep (after
    ingestion, a resume or a replay). A no-op when kicks are off (most tests)."""
    if not settings.DELIVERY_KICK:
        return
    try:
        if destination_id is None:
            # Many requests a second end here: one fan-out task per quarter second is plenty,
            # across processes (Redis) and, without even asking Redis, within this one.
            global _last_kick
            now = time.monotonic()
            if now - _last_kick < KICK_INTERVAL:
                return
            _last_kick = now
            if redis_client().set(f"{key_prefix()}:fanout-kick", 1, nx=True, px=250):
                current_app.send_task(FANOUT_TASK)
        else:
            destination_deliver_enqueue(destination_id)
    except Exception:  # the broker is down: the sweep will find the work in the database
        log.warning("could not enqueue delivery work; the sweep will pick it up", exc_info=True)
