"""The delivery engine: claim, consent, send, record, retry, dead-letter.

Guarantees (docs/delivery.md):

- **At least once, never against consent.** An accepted event gets one ``Delivery`` per
  matching destination in the transaction that clears its ``fanout_pending`` marker. A worker
  claims due deliveries with ``FOR UPDATE SKIP LOCKED`` and keeps them locked while it sends;
  if it dies, its transaction rolls back and the deliveries are due again (the platform's
  dedup key — always sent — absorbs the repeat). Every event is put to the consent firewall
  at the point of egress; a blocked one is never sent.
- **Isolation.** Each destination has its own concurrency slots (transaction-scoped advisory
  locks) and circuit breaker; a slow or dead destination uses only its own slots.
- **Residency.** A destination's deliveries are claimed, and their attempts written, in its
  workspace's region's database; nothing of a workspace that is moving between regions is
  touched until the move is over.
- **Self-healing.** Transient failures retry with exponential backoff and full jitter,
  honouring Retry-After; permanent refusals and exhausted attempts become dead letters with
  the reason; a destination whose error rate crosses its threshold is paused (audited).
- **Counted.** Each claimed batch adds its minute figures (destinations/metrics) in its own
  transaction, one statement: delivered, failed tries — a refusal before sending (precheck)
  included, as a dead letter with its reason — blocked by consent, and the requests' latency.
"""

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson
import psycopg
from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone
from psycopg.types.json import set_json_loads

from destinations.adapters import Adapter, ItemOutcome, Outcome, PlatformRequest, adapter_for
from destinations.delivery.autopause import destination_autopause
from destinations.delivery.fanout import moving_workspace_ids
from destinations.delivery.mapping import Claimed, ClaimedEvent, outgoing_event
from destinations.ingestion.runtime import workspace_runtime
from destinations.metrics import (
    DEAD_EXHAUSTED,
    DEAD_REFUSED,
    DEAD_UNSENDABLE,
    DELIVERY_BLOCKED,
    DELIVERY_DEAD,
    DELIVERY_DEAD_REASON,
    DELIVERY_DELIVERED,
    DELIVERY_FAILED,
    DELIVERY_LATENCY,
)
from destinations.metrics.writer import Figures, figures_write
from destinations.models import (
    AttemptOutcome,
    DeliveryStatus,
    Destination,
    DestinationState,
)
from destinations.routing.secrets import destination_secrets
from privacy.consent import ConsentAction, ConsentPolicy, ConsentSignals, decide
from tracklayer import http
from workspaces.models import Workspace
from workspaces.regions import region_db

BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 900.0
CIRCUIT_THRESHOLD = 5  # consecutive failed requests before the breaker opens
CIRCUIT_MAX_SECONDS = 300
ERROR_EXCERPT = 300
# A destination not known to answer is probed: one batch of at most this many events at a
# time, in its first slot only — after a failed request until one succeeds, and when this
# process has seen no request of it succeed in the last HEALTHY_SECONDS (a new or idle
# destination: one small batch first, then whole ones in every slot). A dead or timing-out
# destination then costs its worker a few events' work per try, never whole batches in every
# slot (docs/delivery.md "Isolation and self-healing").
PROBE_BATCH = 10
HEALTHY_SECONDS = 60.0
# Destination id → time.monotonic() of its last successful request in this process.
_answered: dict[int, float] = {}


def _known_to_answer(destination: Destination) -> bool:
    if destination.consecutive_failures:
        return False
    at = _answered.get(destination.pk)
    return at is not None and time.monotonic() - at < HEALTHY_SECONDS


def destination_policy(destination: Destination, workspace_policies) -> ConsentPolicy:
    base = workspace_policies[destination.type]
    if destination.consent_policy:
        return ConsentPolicy.from_dict(destination.consent_policy, base=base)
    return base


# --- Claim, send, record --------------------------------------------------------------------------


@dataclass
class DeliverResult:
    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    blocked: int = 0
    busy: bool = False  # every concurrency slot of the destination was taken
    more: bool = False  # more deliveries were due than one batch
    region: str | None = None  # the workspace's region, once read (None: nothing was tried)
    requests: list[dict] = field(default_factory=list)


# Advisory lock keys of delivery slots: a namespace in the high bits, then the destination id
# and the slot number (up to 256 slots).
_SLOT_NAMESPACE = 0x544C44 << 40  # "TLD"


_CLAIM = """
SELECT d.id, d.event_id, d.attempts, e.message_id, e.type, e.name, e.anonymous_id,
       e.timestamp, e.properties, e.context, e.identifiers, e.consent::text,
       o.event_id IS NOT NULL, host(o.ip), o.user_agent
FROM destinations_delivery AS d
JOIN destinations_event AS e ON e.id = d.event_id
LEFT JOIN destinations_eventoperational AS o ON o.event_id = d.event_id
WHERE d.destination_id = %s AND d.status = 'pending' AND d.next_attempt_at <= %s
ORDER BY d.next_attempt_at
LIMIT %s
FOR UPDATE OF d SKIP LOCKED
"""


def _claim(alias: str, destination: Destination, now: datetime, limit: int) -> list[Claimed]:
    connection = connections[alias]
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        set_json_loads(orjson.loads, cursor)
        cursor.execute(_CLAIM, [destination.pk, now, limit])
        rows = cursor.fetchall()
    # The consent column comes as jsonb's text, which is canonical: events with the same
    # signals (most of a batch) share one dict, and the consent decision is taken once per
    # distinct dict (``_decider``).
    consents: dict[str, dict] = {}
    claimed = []
    for row in rows:
        consent = consents.get(row[11])
        if consent is None:
            consent = consents[row[11]] = orjson.loads(row[11])
        claimed.append(
            Claimed(
                pk=row[0],
                event_id=row[1],
                attempts=row[2],
                event=ClaimedEvent(*row[3:11], consent),
                operational=(row[13], row[14] or "") if row[12] else None,
            )
        )
    return claimed


def _take_slot(alias: str, destination: Destination, *, slots: int) -> bool:
    """One of the destination's first ``slots`` slots (of ``max_concurrency``), held until the
    transaction on the region's database ``alias`` ends (a killed worker's connection drops
    and its slot with it)."""
    base = _SLOT_NAMESPACE + destination.pk * 256
    with connections[alias].cursor() as cursor:
        for slot in range(max(1, min(slots, 256))):
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s::bigint)", [base + slot])
            if cursor.fetchone()[0]:
                return True
    return False


def backoff_seconds(attempts: int) -> float:
    """Exponential backoff with full jitter: between half and all of base·2^attempts."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * (2**attempts))
    return ceiling * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not security


def mask_secrets(text: str, secrets: dict) -> str:
    for value in secrets.values():
        if isinstance(value, str) and len(value) >= 4:
            text = text.replace(value, "••••")
    return text[:ERROR_EXCERPT]


@dataclass
class _Row:
    delivery: "Claimed"
    status: str
    decision: dict
    attempts: int
    next_attempt_at: datetime
    last_error: str = ""
    dead_reason: str = ""
    delivered_at: datetime | None = None
    recorded: str = ""  # this try's AttemptOutcome
    attempt_error: str = ""  # this try's error, as the attempt records it


def _bulk(alias: str, sql: str, params: list) -> None:
    """A statement of large arrays, bound server-side (Django's cursors bind on the client,
    quoting every element into the SQL text: several times slower at this size)."""
    connection = connections[alias]
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params)


def _save(alias: str, rows: list[_Row], attempts: dict[tuple, list[int]]) -> None:
    """Write a batch's outcomes: one UPDATE per distinct outcome (a batch usually has one or
    two) and one INSERT of attempts per distinct (request, outcome, error)."""
    groups: dict[tuple, list[int]] = {}
    decisions: dict[int, str] = {}  # a batch's rows share a few decision dicts
    for row in rows:
        decision = decisions.get(id(row.decision))
        if decision is None:
            decision = decisions[id(row.decision)] = orjson.dumps(row.decision).decode()
        key = (
            str(row.status),
            decision,
            row.attempts,
            row.next_attempt_at,
            row.last_error,
            row.dead_reason[:300],
            row.delivered_at,
        )
        groups.setdefault(key, []).append(row.delivery.pk)
    for (status, decision, tries, due, error, reason, delivered), ids in groups.items():
        _bulk(
            alias,
            """
            UPDATE destinations_delivery SET
                status = %s, decision = %s::jsonb, attempts = %s, next_attempt_at = %s,
                last_error = %s, dead_reason = %s, delivered_at = %s, updated_at = now()
            WHERE id = ANY(%s::bigint[])
            """,
            [status, decision, tries, due, error, reason, delivered, ids],
        )
    for (
        destination_id,
        request_id,
        started,
        latency,
        status_code,
        outcome,
        error,
    ), ids in attempts.items():
        _bulk(
            alias,
            """
            INSERT INTO destinations_deliveryattempt
                (delivery_id, destination_id, request_id, started_at, latency_ms, status_code,
                 outcome, error)
            SELECT id, %s, %s, %s, %s, %s, %s, %s FROM unnest(%s::bigint[]) AS t(id)
            """,
            [destination_id, request_id, started, latency, status_code, outcome, error, ids],
        )


def send(adapter: Adapter, request: PlatformRequest) -> tuple[http.HttpResult, list[ItemOutcome]]:
    """Post one request through the egress policy and read the platform's answer: one outcome
    per event the request carries (the adapter decides what the answer means)."""
    answer = http.post(
        request.url, request.body, headers=request.headers, timeout=settings.DELIVERY_HTTP_TIMEOUT
    )
    outcomes = adapter.parse(
        request=request,
        status=answer.status,
        body=answer.body,
        headers=answer.headers,
        error=answer.error,
    )
    return answer, outcomes


def destination_deliver(
    *,
    destination_id: int,
    now: datetime | None = None,
    on_more: Callable[[str], None] | None = None,
) -> DeliverResult:
    """Deliver one batch of ``destination_id``'s due deliveries (at most the platform's batch
    limit), under one of its concurrency slots, in its workspace's region's database. Nothing
    is claimed while the workspace is moving between regions.

    A destination whose last request failed, or that this process has not seen answer
    lately, is probed (``PROBE_BATCH`` events, first slot only) until a request succeeds.
    ``on_more`` is called once, mid-batch, when more is due than this batch and its first
    request succeeded: the scheduler queues the next batch then, so that another thread claims
    and builds it while this one records and commits (never for a failing destination, which
    would only fill its slots with doomed batches)."""
    now = now or timezone.now()
    result = DeliverResult()
    destination = Destination.objects.filter(pk=destination_id).first()
    if (
        destination is None
        or destination.deleted_at is not None
        or destination.state == DestinationState.PAUSED
        or (destination.circuit_open_until and destination.circuit_open_until > now)
    ):
        return result
    workspace = (
        Workspace.objects.filter(pk=destination.workspace_id)
        .values("region", "moving_to", "deleted_at")
        .first()
    )
    # Moving: the move owns the rows. Deleted: nothing more is sent (workspace-lifecycle.md).
    if workspace is None or workspace["moving_to"] or workspace["deleted_at"]:
        return result
    result.region = workspace["region"]
    alias = region_db(workspace["region"])
    adapter = adapter_for(destination.type)
    # The slot, the claimed rows and their outcomes are one transaction of the region's
    # database. The breaker's updates (``_circuit``) go to the control plane's, in autocommit
    # outside it: a breaker opened by a batch whose outcomes then fail to save only delays a
    # retry that is due again anyway.
    probing = not _known_to_answer(destination)
    limit = min(PROBE_BATCH, adapter.max_batch) if probing else adapter.max_batch
    with transaction.atomic(using=alias):
        if not _take_slot(alias, destination, slots=1 if probing else destination.max_concurrency):
            result.busy = True
            return result
        deliveries = _claim(alias, destination, now, limit + 1)
        if deliveries and moving_workspace_ids([destination.workspace_id]):
            return result  # a move began meanwhile: leave the rows (and their locks) be
        result.more = len(deliveries) > limit
        deliveries = deliveries[:limit]
        result.claimed = len(deliveries)
        if not deliveries:
            return result
        _process(
            alias, destination, adapter, deliveries, now, result, on_more if result.more else None
        )
    if result.retried or result.dead:
        # After the commit: it reads the attempts just saved.
        _autopause_check(alias, destination.pk)
    return result


@dataclass
class _Batch:
    """One claimed batch of a destination while it is being sent: the rows to save, the
    attempts to insert, and the counts for the caller."""

    destination: Destination
    secrets: dict
    now: datetime
    result: DeliverResult
    rows: dict[int, _Row] = field(default_factory=dict)
    attempts: dict[tuple, list[int]] = field(default_factory=dict)
    figures: Figures = field(default_factory=Figures)

    def count(self, kind: str, *, reason: str = "") -> None:
        """One event's outcome in the destination's minute figures; a dead letter is a
        failure, with its reason."""
        destination = self.destination
        subject = destination.public_id
        self.figures.add(
            workspace_id=destination.workspace_id, at=self.now, kind=kind, subject=subject
        )
        if kind == DELIVERY_DEAD:
            self.count(DELIVERY_FAILED)
            self.figures.add(
                workspace_id=destination.workspace_id,
                at=self.now,
                kind=DELIVERY_DEAD_REASON,
                subject=f"{subject}|{reason}",
            )

    def timed(self, elapsed_ms: float | None) -> None:
        """One request's duration in the destination's latency histogram."""
        if elapsed_ms is not None:
            self.figures.add_latency(
                workspace_id=self.destination.workspace_id,
                at=self.now,
                kind=DELIVERY_LATENCY,
                subject=self.destination.public_id,
                ms=elapsed_ms,
            )

    def record(self, *, request_id, started, answer: http.HttpResult, outcomes) -> bool:
        """Apply one request's outcomes to its rows; True when the request as a whole failed
        (no answer, an error status, or an event that must be tried again)."""
        transient = False
        for outcome in outcomes:
            row = self.rows.get(outcome.delivery_id)
            if row is None:
                continue
            transient |= self._apply(row, outcome)
            self.attempts.setdefault(
                (
                    self.destination.pk,
                    request_id,
                    started,
                    answer.elapsed_ms,
                    answer.status,
                    str(row.recorded),
                    row.attempt_error,
                ),
                [],
            ).append(outcome.delivery_id)
        return transient or answer.status is None or answer.status >= 400

    def _apply(self, row: _Row, outcome: ItemOutcome) -> bool:
        """One event's outcome: delivered, due again after a backoff, or dead. True when the
        failure was transient."""
        row.attempts += 1
        error = mask_secrets(outcome.error, self.secrets)
        row.attempt_error = error
        if outcome.outcome == Outcome.DELIVERED:
            row.status, row.delivered_at, row.last_error = DeliveryStatus.DELIVERED, self.now, ""
            row.recorded = AttemptOutcome.DELIVERED
            self.result.delivered += 1
            self.count(DELIVERY_DELIVERED)
            return False
        transient = outcome.outcome == Outcome.RETRY
        if transient and row.attempts < self.destination.max_attempts:
            wait = max(outcome.retry_after or 0.0, backoff_seconds(row.attempts))
            row.next_attempt_at = self.now + timedelta(seconds=wait)
            row.last_error = error
            row.recorded = AttemptOutcome.RETRY
            self.result.retried += 1
            self.count(DELIVERY_FAILED)
            return True
        if transient:
            reason = f"gave up after {row.attempts} attempts: {error}"
        else:
            reason = f"refused by the platform: {error}"
        row.status, row.last_error, row.dead_reason = DeliveryStatus.DEAD, error, reason
        row.recorded = AttemptOutcome.FAILED
        self.result.dead += 1
        self.count(DELIVERY_DEAD, reason=DEAD_EXHAUSTED if transient else DEAD_REFUSED)
        return transient


def _decider(consent_config, policy):
    """``decide`` for one batch, remembered per distinct stored signals: the decision is a
    pure function of the signals (and the jurisdiction they name) and the policy, and a
    batch's events mostly carry a handful of distinct ones. Every event is still decided at
    egress; identical inputs are not decided twice. Returns (verdict, its dict): the dict is
    shared by the events it decided, and nobody changes it."""
    # By the dict's identity: ``_claim`` gives equal signals one shared dict. The entry keeps
    # its dict alive, so an id is never reused for another dict within the batch.
    known: dict[int, tuple] = {}

    def decided(consent: dict) -> tuple:
        answer = known.get(id(consent))
        if answer is None:
            signals = ConsentSignals.from_dict(consent)
            verdict = decide(
                consent=signals, policy=policy, jurisdiction=consent_config.jurisdiction(signals)
            )
            answer = known[id(consent)] = (verdict, verdict.to_dict(), consent)
        return answer[0], answer[1]

    return decided


def _process(
    alias, destination, adapter, deliveries, now, result: DeliverResult, on_more=None
) -> None:
    # By id: the cached runtime needs no Workspace row (``destination.workspace`` would load
    # one per batch).
    runtime = workspace_runtime(workspace_id=destination.workspace_id)
    consent_config = runtime.config.consent
    decided = _decider(consent_config, destination_policy(destination, consent_config.policies))
    batch = _Batch(destination=destination, secrets={}, now=now, result=result)
    rows = batch.rows
    outgoing = []
    memo: dict = {}  # this batch's parsed page URLs, dropped with it
    for delivery in deliveries:
        verdict, decision = decided(delivery.event.consent)
        if verdict.action == ConsentAction.BLOCK:
            rows[delivery.pk] = _Row(
                delivery, DeliveryStatus.BLOCKED, decision, delivery.attempts, now
            )
            result.blocked += 1
            batch.count(DELIVERY_BLOCKED)
            continue
        item = outgoing_event(
            delivery,
            destination,
            delivery.operational,
            anonymized=verdict.action == ConsentAction.DELIVER_ANONYMIZED,
            spec=adapter.spec,
            decision=decision,
            memo=memo,
        )
        refusal = adapter.precheck(item, now)
        if refusal:
            rows[delivery.pk] = _Row(
                delivery,
                DeliveryStatus.DEAD,
                decision,
                delivery.attempts,
                now,
                last_error=refusal,
                dead_reason=refusal,
            )
            result.dead += 1
            batch.count(DELIVERY_DEAD, reason=DEAD_UNSENDABLE)
            continue
        rows[delivery.pk] = _Row(delivery, DeliveryStatus.PENDING, decision, delivery.attempts, now)
        outgoing.append(item)

    if outgoing:
        batch.secrets = destination_secrets(destination)
        requests = adapter.build(
            config=dict(destination.config), secrets=batch.secrets, events=outgoing, now=now
        )
        failed_requests = 0
        for request in requests:
            started = timezone.now()
            answer, outcomes = send(adapter, request)
            failed = batch.record(
                request_id=uuid.uuid4(), started=started, answer=answer, outcomes=outcomes
            )
            failed_requests += failed
            if failed:
                _answered.pop(destination.pk, None)
            else:
                _answered[destination.pk] = time.monotonic()
            if on_more is not None and not failed:
                on_more(result.region)  # the next batch is claimed and built meanwhile
                on_more = None
            batch.timed(answer.elapsed_ms)
            result.requests.append(
                {
                    "status": answer.status,
                    "events": len(request.delivery_ids),
                    "ms": answer.elapsed_ms,
                }
            )
        _circuit(destination, failed_requests=failed_requests, total=len(requests), now=now)
    _save(alias, list(rows.values()), batch.attempts)
    figures_write(batch.figures, using=alias)  # one statement per batch, in its transaction


def _circuit(destination: Destination, *, failed_requests: int, total: int, now) -> None:
    """Open the breaker after repeated failed requests; a success closes it."""
    if total and failed_requests == total:
        failures = destination.consecutive_failures + failed_requests
        open_until = None
        if failures >= CIRCUIT_THRESHOLD:
            seconds = min(CIRCUIT_MAX_SECONDS, 5 * 2 ** (failures - CIRCUIT_THRESHOLD))
            open_until = now + timedelta(seconds=seconds)
        Destination.objects.filter(pk=destination.pk).update(
            consecutive_failures=failures, circuit_open_until=open_until
        )
    elif failed_requests < total and (
        destination.consecutive_failures or destination.circuit_open_until
    ):
        Destination.objects.filter(pk=destination.pk).update(
            consecutive_failures=0, circuit_open_until=None
        )


def breaker_requests(window_seconds: int) -> int:
    """The most requests the circuit breaker lets a destination that fails every time make in
    ``window_seconds``: ``CIRCUIT_THRESHOLD`` before it opens, then one each time it half-opens
    (after 5 s, 10 s, 20 s … at most ``CIRCUIT_MAX_SECONDS``)."""
    allowed, elapsed = CIRCUIT_THRESHOLD, 0
    while True:
        elapsed += min(CIRCUIT_MAX_SECONDS, 5 * 2 ** (allowed - CIRCUIT_THRESHOLD))
        if elapsed > window_seconds:
            return allowed
        allowed += 1


def _autopause_check(alias: str, destination_id: int) -> None:
    """Pause a destination whose requests failed at or above its threshold in its window: its
    attempts are read from its region's database ``alias``, the pause (audited) is written to
    the control plane."""
    destination = Destination.objects.filter(pk=destination_id).first()
    if destination is None or destination.state == DestinationState.PAUSED:
        return
    since = timezone.now() - timedelta(seconds=destination.autopause_window_seconds)
    if destination.resumed_at and destination.resumed_at > since:
        since = destination.resumed_at  # failures before a resume were already judged
    with connections[alias].cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*), count(*) FILTER (WHERE failed)
            FROM (
                SELECT request_id, bool_and(outcome <> 'delivered') AS failed
                FROM destinations_deliveryattempt
                WHERE destination_id = %s AND started_at >= %s AND request_id IS NOT NULL
                GROUP BY request_id
            ) AS requests
            """,
            [destination_id, since],
        )
        total, failed = cursor.fetchone()
    required = destination.autopause_min_attempts
    if failed == total:
        # Every request failed: the breaker spaces them out, so no more than it lets through
        # in the window can be asked for — else a destination that never answers is never
        # paused (10 requests fit in 300 s against a default of 20).
        required = min(required, breaker_requests(destination.autopause_window_seconds))
    if total < required or not total:
        return
    rate = failed / total
    if rate < destination.autopause_error_rate:
        return
    destination_autopause(
        destination=destination,
        figures={
            "failed_requests": failed,
            "requests": total,
            "error_rate": round(rate, 3),
            "threshold": destination.autopause_error_rate,
            "window_seconds": destination.autopause_window_seconds,
        },
    )
