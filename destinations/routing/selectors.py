"""Reads of the destinations control plane and of the delivery log, always scoped to a
workspace.

Health figures come from ``DeliveryAttempt`` (one row per event per try) through its
``(destination, -started_at)`` index, with PostgreSQL's ``percentile_cont`` for latencies;
backlog and dead letters from the ``Delivery`` rows — and so do refusals before sending (an
event the adapter's precheck dead-lettered has no attempt, yet it failed: it counts against
the success rate, with its reason). Deliveries are addressed by their integer
id (``Delivery`` has no public id).

Deliveries and attempts live in the workspace's region's database, destinations in the control
plane's: the delivery log is read from the region (``Delivery.objects.for_workspace``) and its
destinations attached from the control plane by id — never joined.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connections
from django.db.models import Count, Max, Prefetch, Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from destinations.models import (
    AttemptOutcome,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Destination,
)
from privacy.consent import DEFAULT_POLICIES, ConsentPolicy
from privacy.selectors import consent_config_get
from tracklayer.exceptions import NotFoundError
from workspaces.regions import workspace_db

MAX_LIMIT = 200
MAX_BUCKETS = 500


def destinations_list(*, workspace) -> list[Destination]:
    """The workspace's destinations (deleted ones left out), by name."""
    return list(
        Destination.objects.filter(workspace=workspace, deleted_at__isnull=True).order_by(
            "name", "pk"
        )
    )


def destination_get(*, workspace, public_id: str) -> Destination:
    destination = Destination.objects.filter(
        workspace=workspace, public_id=public_id, deleted_at__isnull=True
    ).first()
    if destination is None:
        raise NotFoundError("No such destination in this workspace.")
    return destination


def destination_find(*, workspace, public_id: str) -> Destination | None:
    """The workspace's destination with this id, deleted ones included (a filter of past
    deliveries may name one), or None."""
    return Destination.objects.filter(workspace=workspace, public_id=public_id).first()


def destination_consent_policy(*, workspace, destination: Destination) -> ConsentPolicy:
    """The policy the firewall applies to ``destination``: the workspace's policy for its type
    (Settings → Consent) with the destination's own overrides on top."""
    base = consent_config_get(workspace=workspace).policies.get(
        destination.type, DEFAULT_POLICIES[destination.type]
    )
    if not destination.consent_policy:
        return base
    return ConsentPolicy.from_dict(destination.consent_policy, base=base)


# --- Health ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FailureReason:
    """One reason some of a destination's events were not delivered, and how often."""

    kind: str  # "attempt" (sent, and the platform failed or refused) | "refused" (not sent)
    label: str  # "HTTP 503", "no answer", or the refusal's reason (numbers as #)
    count: int


@dataclass(frozen=True)
class DestinationHealth:
    state: str
    paused_reason: str
    paused_automatically: bool
    since: datetime
    attempts: int  # attempts since ``since`` (one per event per try)
    failures: int  # failed attempts + refusals before sending
    success_rate: float | None  # delivered / (attempts + refused); None without either
    p50_ms: float | None
    p95_ms: float | None
    last_error: str  # the latest failed attempt's error or refusal since ``since``
    last_error_at: datetime | None
    last_status_code: int | None
    backlog: int  # deliveries waiting (pending)
    dead_letters: int
    # Events dead-lettered since ``since`` without being sent: the adapter's precheck knew the
    # platform would refuse them (too old, no customer information …). Failures too.
    refused: int = 0
    failure_reasons: tuple[FailureReason, ...] = ()  # most frequent first, at most 5

    @property
    def success_percent(self) -> int | None:
        """Rounded down, so that 99.6 % with failures never shows as 100 %."""
        if self.success_rate is None:
            return None
        return int(self.success_rate * 100)

    def to_dict(self) -> dict:
        return {
            "state": self.state,
            "paused_reason": self.paused_reason,
            "paused_automatically": self.paused_automatically,
            "since": self.since,
            "attempts": self.attempts,
            "refused": self.refused,
            "failures": self.failures,
            "success_rate": self.success_rate,
            "failure_reasons": [
                {"kind": r.kind, "label": r.label, "count": r.count} for r in self.failure_reasons
            ],
            "latency_p50_ms": self.p50_ms,
            "latency_p95_ms": self.p95_ms,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "last_status_code": self.last_status_code,
            "backlog": self.backlog,
            "dead_letters": self.dead_letters,
        }


# A dead letter's reason as a group: its text with the numbers in it (ages, counts of
# attempts) as "#" — except an HTTP status, which tells causes apart, and digits within a word
# ("GA4") — so that "8.3 days old" and "9.1 days old" are one group (PostgreSQL's regular
# expressions; lookbehinds since 9.6).
REASON_GROUP_SQL = (
    "coalesce(nullif(regexp_replace(dead_reason, "
    "'(?<![0-9.A-Za-z_])(?<!HTTP )[0-9]+([.][0-9]+)?', '#', 'g'), ''), %s)"
)
NO_REASON = "(no reason recorded)"
# A dead letter refused before sending: the engine records the adapter's refusal as both its
# dead reason and its last error; one that died of attempts says "gave up after …" or
# "refused by the platform: …" beside the attempt's own error (destinations/delivery/engine.py).
REFUSED_BEFORE_SENDING_SQL = "dead_reason <> '' AND dead_reason = left(last_error, 300)"
FAILURE_REASONS_SHOWN = 5


def refused_before_sending(delivery: Delivery) -> bool:
    """``REFUSED_BEFORE_SENDING_SQL`` for one loaded delivery."""
    return (
        delivery.status == DeliveryStatus.DEAD
        and bool(delivery.dead_reason)
        and delivery.dead_reason == delivery.last_error[:300]
    )


def _health_rows(workspace, destination_ids: list[int], since: datetime) -> dict[int, dict]:
    """The figures of the workspace's destinations ``destination_ids``, from its region."""
    figures: dict[int, dict] = {pk: {"reasons": []} for pk in destination_ids}
    if not destination_ids:
        return figures
    attempt_table = DeliveryAttempt._meta.db_table
    delivery_table = Delivery._meta.db_table
    with connections[workspace_db(workspace)].cursor() as cursor:
        cursor.execute(
            f"""
            SELECT destination_id, count(*), count(*) FILTER (WHERE outcome <> %s),
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms),
                   percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms)
            FROM {attempt_table}
            WHERE destination_id = ANY(%s) AND started_at >= %s
            GROUP BY destination_id
            """,  # noqa: S608 - table names are the models'; values are parameters
            [AttemptOutcome.DELIVERED, destination_ids, since],
        )
        for pk, attempts, failures, p50, p95 in cursor.fetchall():
            figures[pk].update(attempts=attempts, failures=failures, p50=p50, p95=p95)
        # Failed attempts by HTTP status (None: no answer).
        cursor.execute(
            f"""
            SELECT destination_id, status_code, count(*)
            FROM {attempt_table}
            WHERE destination_id = ANY(%s) AND started_at >= %s AND outcome <> %s
            GROUP BY destination_id, status_code
            """,  # noqa: S608
            [destination_ids, since, AttemptOutcome.DELIVERED],
        )
        for pk, status_code, count in cursor.fetchall():
            label = f"HTTP {status_code}" if status_code else "no answer"
            figures[pk]["reasons"].append(FailureReason("attempt", label, count))
        # The latest failure of each, walking its recent attempts backwards (bounded by since).
        cursor.execute(
            f"""
            SELECT ids.id, last.error, last.status_code, last.started_at
            FROM unnest(%s::bigint[]) AS ids(id)
            CROSS JOIN LATERAL (
                SELECT error, status_code, started_at FROM {attempt_table}
                WHERE destination_id = ids.id AND started_at >= %s AND outcome <> %s
                ORDER BY started_at DESC LIMIT 1
            ) AS last
            """,  # noqa: S608
            [destination_ids, since, AttemptOutcome.DELIVERED],
        )
        for pk, error, status_code, started_at in cursor.fetchall():
            figures[pk].update(last_error=error, last_status_code=status_code, last_at=started_at)
        # Refusals before sending: dead letters with no attempt behind them, by reason, with
        # the latest one's text and time (a dead letter's updated_at is when it died).
        cursor.execute(
            f"""
            SELECT destination_id, {REASON_GROUP_SQL} AS reason, count(*),
                   max(updated_at), (array_agg(dead_reason ORDER BY updated_at DESC))[1]
            FROM {delivery_table}
            WHERE destination_id = ANY(%s) AND status = %s AND updated_at >= %s
              AND {REFUSED_BEFORE_SENDING_SQL}
            GROUP BY destination_id, reason
            """,  # noqa: S608
            [NO_REASON, destination_ids, DeliveryStatus.DEAD, since],
        )
        for pk, reason, count, latest_at, latest in cursor.fetchall():
            row = figures[pk]
            row["refused"] = row.get("refused", 0) + count
            row["reasons"].append(FailureReason("refused", reason, count))
            if row.get("last_at") is None or latest_at > row["last_at"]:
                row.update(last_error=latest, last_status_code=None, last_at=latest_at)
        cursor.execute(
            f"""
            SELECT destination_id, count(*) FILTER (WHERE status = %s),
                   count(*) FILTER (WHERE status = %s)
            FROM {delivery_table}
            WHERE destination_id = ANY(%s) AND status IN (%s, %s)
            GROUP BY destination_id
            """,  # noqa: S608
            [
                DeliveryStatus.PENDING,
                DeliveryStatus.DEAD,
                destination_ids,
                DeliveryStatus.PENDING,
                DeliveryStatus.DEAD,
            ],
        )
        for pk, backlog, dead in cursor.fetchall():
            figures[pk].update(backlog=backlog, dead=dead)
    return figures


def _health(destination: Destination, row: dict, since: datetime) -> DestinationHealth:
    attempts = row.get("attempts", 0)
    refused = row.get("refused", 0)
    failures = row.get("failures", 0) + refused
    tried = attempts + refused
    reasons = sorted(row.get("reasons", ()), key=lambda r: (-r.count, r.kind, r.label))
    return DestinationHealth(
        state=destination.state,
        paused_reason=destination.paused_reason,
        paused_automatically=destination.paused_automatically,
        since=since,
        attempts=attempts,
        failures=failures,
        success_rate=(tried - failures) / tried if tried else None,
        p50_ms=row.get("p50"),
        p95_ms=row.get("p95"),
        last_error=row.get("last_error", ""),
        last_error_at=row.get("last_at"),
        last_status_code=row.get("last_status_code"),
        backlog=row.get("backlog", 0),
        dead_letters=row.get("dead", 0),
        refused=refused,
        failure_reasons=tuple(reasons[:FAILURE_REASONS_SHOWN]),
    )


def destinations_health(
    *, workspace, destinations: list[Destination], since: datetime
) -> dict[int, DestinationHealth]:
    """``destination_health`` of several destinations in five queries (the list page)."""
    own = [d for d in destinations if d.workspace_id == workspace.pk]
    rows = _health_rows(workspace, [d.pk for d in own], since)
    return {d.pk: _health(d, rows[d.pk], since) for d in own}


def destination_health(
    *, workspace, destination: Destination, since: datetime
) -> DestinationHealth:
    """How the destination fares since ``since``: attempts, failures (failed attempts and
    refusals before sending) by reason and the success rate over both, p50/p95 latency, the
    latest error or refusal and when, its backlog, its dead letters and its state."""
    if destination.workspace_id != workspace.pk:
        raise NotFoundError("No such destination in this workspace.")
    rows = _health_rows(workspace, [destination.pk], since)
    return _health(destination, rows[destination.pk], since)


# --- The delivery log --------------------------------------------------------------------------


def _deliveries(workspace):
    return Delivery.objects.for_workspace(workspace).select_related("event")


def _attempts():
    return Prefetch(
        "attempt_set",
        queryset=DeliveryAttempt.objects.order_by("started_at", "pk"),
        to_attr="attempt_list",
    )


def _with_destinations(workspace, deliveries: list[Delivery]) -> list[Delivery]:
    """Attach each delivery's destination, read from the control plane in one query."""
    by_id = Destination.objects.filter(
        workspace=workspace, pk__in={d.destination_id for d in deliveries}
    ).in_bulk()
    for delivery in deliveries:
        delivery.destination = by_id[delivery.destination_id]
    return deliveries


def _reason_group():
    return RawSQL(REASON_GROUP_SQL, (NO_REASON,))  # noqa: S611 - a constant; values are parameters


def dead_letters_matching(*, workspace, destination: Destination | None = None, reason=None):
    """The workspace's dead letters (a queryset in its region), of ``destination`` and whose
    reason group (``REASON_GROUP_SQL``) is ``reason`` when given."""
    deliveries = Delivery.objects.for_workspace(workspace).filter(status=DeliveryStatus.DEAD)
    if destination is not None:
        deliveries = deliveries.filter(destination_id=destination.pk)
    if reason:
        deliveries = deliveries.annotate(reason_group=_reason_group()).filter(reason_group=reason)
    return deliveries


@dataclass(frozen=True)
class DeadLetterGroup:
    reason: str  # the reason with its numbers as "#" (NO_REASON when none was recorded)
    count: int
    example: str  # one of the group's reasons as recorded, numbers and all


def dead_letter_groups(
    *, workspace, destination: Destination | None = None, limit: int = 50
) -> list[DeadLetterGroup]:
    """The workspace's dead letters (of ``destination``) grouped by reason, most first (at
    most ``limit`` groups) — one query over its region's dead letters."""
    rows = (
        dead_letters_matching(workspace=workspace, destination=destination)
        .annotate(reason_group=_reason_group())
        .values("reason_group")
        .annotate(count=Count("pk"), example=Max("dead_reason"))
        .order_by("-count", "reason_group")[: max(1, min(limit, MAX_LIMIT))]
    )
    return [DeadLetterGroup(row["reason_group"], row["count"], row["example"]) for row in rows]


DEAD_LETTER_GROUPS_SHOWN = 50


def dead_letter_summary(
    *, workspace, destination: Destination | None = None, reason: str | None = None
) -> tuple[list[DeadLetterGroup], int]:
    """The page's groups (``dead_letter_groups``, at most 50) and how many dead letters match
    ``reason`` (every one when None): summed from the groups when they are all there — one
    pass of the reason expression over the dead letters instead of two — else counted."""
    groups = dead_letter_groups(
        workspace=workspace, destination=destination, limit=DEAD_LETTER_GROUPS_SHOWN + 1
    )
    if len(groups) <= DEAD_LETTER_GROUPS_SHOWN:
        return groups, sum(g.count for g in groups if not reason or g.reason == reason)
    matching = dead_letters_matching(workspace=workspace, destination=destination, reason=reason)
    return groups[:DEAD_LETTER_GROUPS_SHOWN], matching.count()


def deliveries_list(
    *,
    workspace,
    destination: Destination | None = None,
    status: str | None = None,
    message_id: str | None = None,
    reason: str | None = None,
    limit: int = 50,
    before: int | None = None,
    after: int | None = None,
    with_attempts: bool = False,
) -> list[Delivery]:
    """The workspace's deliveries, newest first (at most ``limit``, capped at 200), each with
    its ``event`` (messageId, name) and ``destination`` loaded.

    - ``destination``, ``status``, ``message_id`` (the event's messageId): exact match.
    - ``reason``: dead letters of this reason group only (``dead_letter_groups``).
    - ``before`` / ``after``: a delivery id from a previous page; only older (newer)
      deliveries are returned — keyset paging by (created_at, id); an id that is not the
      workspace's is ignored. With ``after``, the page is the ``limit`` just newer than it.
    - ``with_attempts``: each delivery's ``attempt_list``, oldest first, in one more query.
    """
    if reason:
        deliveries = dead_letters_matching(
            workspace=workspace, destination=destination, reason=reason
        ).select_related("event")
    else:
        deliveries = _deliveries(workspace)
        if destination is not None:
            deliveries = deliveries.filter(destination=destination)
    if status:
        deliveries = deliveries.filter(status=status)
    if message_id:
        deliveries = deliveries.filter(event__message_id=message_id)
    newer = after is not None and before is None
    anchor_id = after if newer else before
    if anchor_id is not None:
        anchor = (
            Delivery.objects.for_workspace(workspace)
            .filter(pk=anchor_id)
            .values_list("created_at", "pk")
            .first()
        )
        if anchor is not None:
            created_at, pk = anchor
            if newer:
                deliveries = deliveries.filter(
                    Q(created_at__gt=created_at) | Q(created_at=created_at, pk__gt=pk)
                )
            else:
                deliveries = deliveries.filter(
                    Q(created_at__lt=created_at) | Q(created_at=created_at, pk__lt=pk)
                )
    if with_attempts:
        deliveries = deliveries.prefetch_related(_attempts())
    limit = max(1, min(limit, MAX_LIMIT))
    if newer:
        rows = list(deliveries.order_by("created_at", "pk")[:limit])[::-1]
    else:
        rows = list(deliveries.order_by("-created_at", "-pk")[:limit])
    return _with_destinations(workspace, rows)


def delivery_get(*, workspace, delivery_id: int) -> Delivery:
    """One delivery with its ``event``, ``destination`` and ``attempt_list`` (oldest first)."""
    delivery = _deliveries(workspace).filter(pk=delivery_id).prefetch_related(_attempts()).first()
    if delivery is None:
        raise NotFoundError("No such delivery in this workspace.")
    return _with_destinations(workspace, [delivery])[0]


def event_deliveries(*, workspace, event) -> list[Delivery]:
    """The trail of one of the workspace's events: its delivery to each destination (by
    destination name), each with its ``destination`` and ``attempt_list`` (oldest first) —
    three queries. An event of another workspace has none here."""
    if event.workspace_id != workspace.pk:
        return []
    deliveries = list(
        Delivery.objects.for_workspace(workspace)
        .filter(event_id=event.pk)
        .prefetch_related(_attempts())
    )
    return sorted(
        _with_destinations(workspace, deliveries),
        key=lambda d: (d.destination.name.casefold(), d.pk),
    )


# --- Charts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeriesPoint:
    start: datetime
    delivered: int  # attempts that delivered in the bucket
    failed: int  # attempts that did not (retried later, or refused)
    blocked: int  # deliveries the consent firewall blocked, by when the event was fanned out

    @property
    def total(self) -> int:
        return self.delivered + self.failed + self.blocked


def delivery_series(
    *,
    workspace,
    destination: Destination | None = None,
    since: datetime,
    bucket: timedelta,
    until: datetime | None = None,
) -> list[SeriesPoint]:
    """Counts per time bucket from ``since`` to now (every bucket present, empty ones with
    zeros; at most 500 buckets): delivered and failed attempts, and blocked deliveries."""
    until = until or timezone.now()
    if bucket <= timedelta(0):
        raise ValueError("bucket must be positive")
    count = int((until - since) / bucket) + 1
    if count > MAX_BUCKETS:
        raise ValueError(f"at most {MAX_BUCKETS} buckets")
    if destination is not None and destination.workspace_id != workspace.pk:
        raise NotFoundError("No such destination in this workspace.")
    destination_ids = (
        [destination.pk]
        if destination is not None
        else list(Destination.objects.filter(workspace=workspace).values_list("pk", flat=True))
    )
    points = {since + i * bucket: [0, 0, 0] for i in range(count)}
    if destination_ids:
        with connections[workspace_db(workspace)].cursor() as cursor:
            cursor.execute(
                f"""
                SELECT date_bin(%s, started_at, %s) AS bucket,
                       count(*) FILTER (WHERE outcome = %s),
                       count(*) FILTER (WHERE outcome <> %s)
                FROM {DeliveryAttempt._meta.db_table}
                WHERE destination_id = ANY(%s) AND started_at >= %s AND started_at < %s
                GROUP BY bucket
                """,  # noqa: S608
                [
                    bucket,
                    since,
                    AttemptOutcome.DELIVERED,
                    AttemptOutcome.DELIVERED,
                    destination_ids,
                    since,
                    until,
                ],
            )
            for start, delivered, failed in cursor.fetchall():
                if start in points:
                    points[start][0] += delivered
                    points[start][1] += failed
            cursor.execute(
                f"""
                SELECT date_bin(%s, created_at, %s) AS bucket, count(*)
                FROM {Delivery._meta.db_table}
                WHERE workspace_id = %s AND destination_id = ANY(%s) AND status = %s
                  AND created_at >= %s AND created_at < %s
                GROUP BY bucket
                """,  # noqa: S608
                [
                    bucket,
                    since,
                    workspace.pk,
                    destination_ids,
                    DeliveryStatus.BLOCKED,
                    since,
                    until,
                ],
            )
            for start, blocked in cursor.fetchall():
                if start in points:
                    points[start][2] += blocked
    return [SeriesPoint(start, *values) for start, values in points.items()]
