"""What is due, and telling the workers about it.

The database is the queue's truth (pending deliveries with their ``next_attempt_at``); Celery
tasks only say "look now". A kick after ingestion, a resume or a replay asks for work at once;
the periodic sweep (``deliveries_sweep``, every few seconds) finds whatever a lost message
left behind. Tasks are named, not imported: ``destinations.tasks`` is the edge that calls
this module, and its task names are stored in beat's schedule.

Every region has its own data plane and its own Celery queue (``settings.CELERY_REGION_QUEUES``,
``region.us``, ``region.eu``): fan-out, sweep and delivery tasks of a region are sent to its
queue, so that a worker pool in the EU (``celery -A tracklayer worker -Q region.eu``) does the
EU's work and only that. The control plane's tasks (audit) stay on the default queue.
"""

import logging
import time
from datetime import datetime

from celery import current_app
from django.conf import settings
from django.db import connections
from django.utils import timezone

from destinations.delivery.engine import destination_deliver
from destinations.delivery.fanout import FANOUT_BATCH, events_fanout, moving_workspace_ids
from destinations.models import Delivery, DeliveryStatus, Destination, DestinationState, Event
from tracklayer.redis_client import key_prefix, redis_client
from tracklayer.regions import REGIONS
from workspaces.regions import region_db

log = logging.getLogger(__name__)

FANOUT_TASK = "destinations.tasks.events_fanout_task"
DELIVER_TASK = "destinations.tasks.destination_deliver_task"
SWEEP_TASK = "destinations.tasks.deliveries_sweep"
FANOUT_ROUNDS = 50  # events per task: up to 50 × 1,000; the sweep continues from there
KICK_INTERVAL = 0.25
_last_kick: dict[str, float] = {}


def region_queue(region: str) -> str:
    """The Celery queue of the tasks that work on ``region``'s data plane."""
    return settings.CELERY_REGION_QUEUES[region]


def _regions(region: str | None) -> list[str]:
    return list(REGIONS) if region is None else [region]


def destination_region(destination_id: int) -> str | None:
    """The region of the destination's workspace (control plane), None when it is gone."""
    return (
        Destination.objects.filter(pk=destination_id)
        .values_list("workspace__region", flat=True)
        .first()
    )


def due_destination_ids(*, region: str | None = None, now: datetime | None = None) -> list[int]:
    """Destinations with deliveries due now in ``region`` (or in every region): the sweep's
    work list. The control plane names the candidates — active, not deleted, breaker closed,
    of a workspace of the region that is neither moving nor deleted — and the region's
    database says which of them have a pending delivery due (one index probe each; no join
    across databases)."""
    now = now or timezone.now()
    due: list[int] = []
    for code in _regions(region):
        candidates = list(
            Destination.objects.filter(
                workspace__region=code,
                workspace__moving_to="",
                workspace__deleted_at__isnull=True,
                deleted_at__isnull=True,
                state=DestinationState.ACTIVE,
            )
            .exclude(circuit_open_until__gt=now)
            .values_list("pk", flat=True)
        )
        if not candidates:
            continue
        with connections[region_db(code)].cursor() as cursor:
            cursor.execute(
                """
                SELECT d.id FROM unnest(%s::bigint[]) AS d(id)
                WHERE EXISTS (
                    SELECT 1 FROM destinations_delivery AS x
                    WHERE x.destination_id = d.id AND x.status = 'pending'
                      AND x.next_attempt_at <= %s
                )
                """,
                [candidates, now],
            )
            due.extend(row[0] for row in cursor.fetchall())
    return sorted(due)


def has_due(destination_id: int, *, region: str | None = None, now: datetime | None = None) -> bool:
    """Whether the destination has deliveries due now, in its workspace's region (``region``
    when the caller knows it)."""
    region = region or destination_region(destination_id)
    if region is None:
        return False
    return (
        Delivery.objects.in_region(region)
        .filter(
            destination_id=destination_id,
            status=DeliveryStatus.PENDING,
            next_attempt_at__lte=now or timezone.now(),
        )
        .exists()
    )


def destination_deliver_enqueue(destination_id: int, *, region: str | None = None) -> None:
    """Queue one delivery task for a destination, on its region's queue, unless one is queued
    already."""
    region = region or destination_region(destination_id)
    if region is None:
        return
    if redis_client().set(f"{key_prefix()}:deliver-queued:{destination_id}", 1, nx=True, ex=30):
        current_app.send_task(DELIVER_TASK, args=[destination_id], queue=region_queue(region))


def events_fanout_enqueue(region: str) -> None:
    """Queue a fan-out of ``region``'s marked events, on its queue."""
    current_app.send_task(FANOUT_TASK, kwargs={"region": region}, queue=region_queue(region))


def events_fanout_rounds(*, region: str | None = None) -> None:
    """Fan out what is pending in ``region`` (or in every region; up to ``FANOUT_ROUNDS``
    batches each) and queue the destinations that got work."""
    for code in _regions(region):
        touched: set[int] = set()
        for _ in range(FANOUT_ROUNDS):
            count, destination_ids = events_fanout(region=code)
            touched |= destination_ids
            if count < FANOUT_BATCH:
                break
        for destination_id in sorted(touched):
            destination_deliver_enqueue(destination_id, region=code)


def destination_deliver_queued(destination_id: int) -> None:
    """Deliver one batch of a queued destination, and queue it again while more is due: as
    soon as the batch's first request succeeded when it is known that more is due (another
    thread then claims and builds the next batch while this one records its outcomes), and
    once the batch is recorded (a no-op while that task is still queued: the queueing is
    de-duplicated; if it already ran, it could not claim the rows this batch held)."""
    redis_client().delete(f"{key_prefix()}:deliver-queued:{destination_id}")

    def next_batch(region: str) -> None:
        try:
            destination_deliver_enqueue(destination_id, region=region)
        except Exception:  # the broker is down: queued again below, or found by the sweep
            log.warning("could not queue the next delivery batch", exc_info=True)

    result = destination_deliver(destination_id=destination_id, on_more=next_batch)
    # The engine read the destination's region already: no second lookup per task.
    region = result.region
    if result.more or (
        result.claimed and not result.busy and has_due(destination_id, region=region)
    ):
        destination_deliver_enqueue(destination_id, region=region)


def deliveries_sweep(*, region: str | None = None) -> None:
    """The safety net: whatever the broker lost (a Redis restart, a killed worker) is in the
    region's database, and this finds it every few seconds. Beat runs one sweep per region on
    the region's queue; without a region (a schedule stored before regions) it queues one for
    each."""
    if region is None:
        for code in REGIONS:
            current_app.send_task(SWEEP_TASK, kwargs={"region": code}, queue=region_queue(code))
        return
    pending = Event.objects.in_region(region).filter(fanout_pending=True)
    if pending.exclude(workspace_id__in=moving_workspace_ids()).exists():
        events_fanout_enqueue(region)
    for destination_id in due_destination_ids(region=region):
        destination_deliver_enqueue(destination_id, region=region)


def delivery_kick(*, destination_id: int | None = None, region: str | None = None) -> None:
    """Ask the workers to fan out (in ``region``, or in every region) or to deliver
    ``destination_id`` now rather than at the next sweep (after ingestion, a resume or a
    replay). A no-op when kicks are off (most tests)."""
    if not settings.DELIVERY_KICK:
        return
    try:
        if destination_id is None:
            # Many requests a second end here: one fan-out task per region per quarter second
            # is plenty, across processes (Redis) and, without even asking Redis, within this one.
            now = time.monotonic()
            for code in _regions(region):
                if now - _last_kick.get(code, 0.0) < KICK_INTERVAL:
                    continue
                _last_kick[code] = now
                if redis_client().set(f"{key_prefix()}:fanout-kick:{code}", 1, nx=True, px=250):
                    events_fanout_enqueue(code)
        else:
            destination_deliver_enqueue(destination_id, region=region)
    except Exception:  # the broker is down: the sweep will find the work in the database
        log.warning("could not enqueue delivery work; the sweep will pick it up", exc_info=True)
