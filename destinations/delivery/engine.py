"""The delivery engine: fan-out, claim, consent, send, record, retry, dead-letter.

Guarantees (docs/delivery.md):

- **At least once, never against consent.** An accepted event gets one ``Delivery`` per
  matching destination in the transaction that clears its ``fanout_pending`` marker. A worker
  claims due deliveries with ``FOR UPDATE SKIP LOCKED`` and keeps them locked while it sends;
  if it dies, its transaction rolls back and the deliveries are due again (the platform's
  dedup key — always sent — absorbs the repeat). Every event is put to the consent firewall
  at the point of egress; a blocked one is never sent.
- **Isolation.** Each destination has its own concurrency slots (transaction-scoped advisory
  locks) and circuit breaker; a slow or dead destination uses only its own slots.
- **Self-healing.** Transient failures retry with exponential backoff and full jitter,
  honouring Retry-After; permanent refusals and exhausted attempts become dead letters with
  the reason; a destination whose error rate crosses its threshold is paused (audited).
"""

import logging
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import orjson
import psycopg
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from psycopg.types.json import set_json_loads

from destinations.adapters import ItemOutcome, Outcome, OutgoingEvent, adapter_for
from destinations.ingestion.runtime import workspace_runtime
from destinations.models import (
    AttemptOutcome,
    Delivery,
    DeliveryStatus,
    Destination,
    DestinationState,
    Event,
)
from privacy.consent import ConsentAction, ConsentPolicy, ConsentSignals, decide
from tracklayer import http
from tracklayer.redis_client import key_prefix, redis_client

log = logging.getLogger(__name__)

FANOUT_BATCH = 1000
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 900.0
CIRCUIT_THRESHOLD = 5  # consecutive failed requests before the breaker opens
CIRCUIT_MAX_SECONDS = 300
ERROR_EXCERPT = 300


# --- Fan-out --------------------------------------------------------------------------------------


def _token(event_type: str, name: str) -> str:
    return name if event_type == "track" else f"${event_type}"


def destination_matches(destination: Destination, event_type: str, name: str) -> bool:
    """Whether an event goes to ``destination``: its filter lists track event names and
    ``$page`` / ``$screen`` / ``$identify`` …; an empty filter takes track and page events."""
    if not destination.event_filter:
        return event_type in {"track", "page"}
    return _token(event_type, name) in destination.event_filter


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


# --- Building what a platform receives ------------------------------------------------------------

CLICK_ID_KEYS = ("fbc", "fbp", "ttclid", "ttp", "gclid", "wbraid", "gbraid")


def _path(data: dict, dotted: str):
    node = data
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def map_properties(properties: dict, mapping: dict) -> dict:
    """The platform's commerce fields from Segment's e-commerce spec, then the destination's
    own mapping (target → "properties.path") on top."""
    data: dict = {}
    for key in ("value", "revenue", "total"):
        if isinstance(properties.get(key), int | float) and not isinstance(properties[key], bool):
            data["value"] = float(properties[key])
            break
    if isinstance(properties.get("currency"), str):
        data["currency"] = properties["currency"].upper()
    if properties.get("order_id") is not None:
        data["order_id"] = str(properties["order_id"])
    products = properties.get("products")
    if isinstance(products, list):
        contents = []
        for product in products:
            if not isinstance(product, dict):
                continue
            item_id = product.get("product_id") or product.get("sku") or product.get("id")
            if item_id is None:
                continue
            item = {"id": str(item_id), "quantity": product.get("quantity") or 1}
            if isinstance(product.get("price"), int | float):
                item["item_price"] = float(product["price"])
            if product.get("name"):
                item["name"] = str(product["name"])
            contents.append(item)
        if contents:
            data["contents"] = contents
            data["content_ids"] = [item["id"] for item in contents]
    elif properties.get("product_id") is not None:
        data["content_ids"] = [str(properties["product_id"])]
    root = {"properties": properties}
    for target, source in (mapping or {}).items():
        value = _path(root, source) if isinstance(source, str) else None
        if value is not None:
            data[target] = value
    return data


def _click_ids(event: "ClaimedEvent") -> dict:
    found = {}
    for source in (event.properties, event.context):
        for key in CLICK_ID_KEYS:
            if isinstance(source.get(key), str) and key not in found:
                found[key] = source[key]
    page = event.context.get("page") if isinstance(event.context.get("page"), dict) else {}
    query = parse_qs(urlsplit(str(page.get("url") or "")).query)
    if "fbc" not in found and query.get("fbclid"):
        # Meta's documented fbc format: fb.<subdomain index>.<creation ms>.<fbclid>
        created = int(event.timestamp.timestamp() * 1000)
        found["fbc"] = f"fb.1.{created}.{query['fbclid'][0]}"
    for key in ("ttclid", "gclid"):
        if key not in found and query.get(key):
            found[key] = query[key][0]
    return found


def outgoing_event(
    delivery: "Claimed",
    destination: Destination,
    operational: tuple[str | None, str] | None,
    *,
    anonymized: bool,
    spec: str,
    decision: dict | None = None,
) -> OutgoingEvent:
    event = delivery.event
    token = _token(event.type, event.name)
    ids = dict(event.identifiers.get(spec, {})) if not anonymized else {}
    external_id = ids.pop("external_id", "")
    page = event.context.get("page") if isinstance(event.context.get("page"), dict) else {}
    event_id = event.properties.get("event_id")
    return OutgoingEvent(
        delivery_id=delivery.pk,
        event_id=str(event_id) if event_id else event.message_id,
        message_id=event.message_id,
        event_name=destination.event_mapping.get(token, event.name or event.type),
        event_type=event.type,
        timestamp=event.timestamp,
        anonymized=anonymized,
        user_data=ids,
        external_id=external_id,
        anonymous_id="" if anonymized else event.anonymous_id,
        ip=None if anonymized or operational is None else operational[0],
        user_agent="" if anonymized or operational is None else operational[1],
        click_ids={} if anonymized else _click_ids(event),
        page_url=str(page.get("url") or ""),
        referrer=str(page.get("referrer") or ""),
        custom_data=map_properties(event.properties, destination.property_mapping),
        properties=event.properties,
        consent={**event.consent, "decision": decision or {}},
        action_source="app" if isinstance(event.context.get("app"), dict) else "website",
    )


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
    requests: list[dict] = field(default_factory=list)


# Advisory lock keys of delivery slots: a namespace in the high bits, then the destination id
# and the slot number (up to 256 slots).
_SLOT_NAMESPACE = 0x544C44 << 40  # "TLD"


@dataclass(slots=True)
class ClaimedEvent:
    message_id: str
    type: str
    name: str
    anonymous_id: str
    timestamp: datetime
    properties: dict
    context: dict
    identifiers: dict
    consent: dict


@dataclass(slots=True)
class Claimed:
    """A locked due delivery with what sending it needs (read in one query, not as models:
    a batch is a thousand of them)."""

    pk: int
    event_id: int
    attempts: int
    event: ClaimedEvent
    operational: tuple[str | None, str] | None


_CLAIM = """
SELECT d.id, d.event_id, d.attempts, e.message_id, e.type, e.name, e.anonymous_id,
       e.timestamp, e.properties, e.context, e.identifiers, e.consent,
       o.event_id IS NOT NULL, host(o.ip), o.user_agent
FROM destinations_delivery AS d
JOIN destinations_event AS e ON e.id = d.event_id
LEFT JOIN destinations_eventoperational AS o ON o.event_id = d.event_id
WHERE d.destination_id = %s AND d.status = 'pending' AND d.next_attempt_at <= %s
ORDER BY d.next_attempt_at
LIMIT %s
FOR UPDATE OF d SKIP LOCKED
"""


def _claim(destination: Destination, now: datetime, limit: int) -> list[Claimed]:
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        set_json_loads(orjson.loads, cursor)
        cursor.execute(_CLAIM, [destination.pk, now, limit])
        rows = cursor.fetchall()
    return [
        Claimed(
            pk=row[0],
            event_id=row[1],
            attempts=row[2],
            event=ClaimedEvent(*row[3:12]),
            operational=(row[13], row[14] or "") if row[12] else None,
        )
        for row in rows
    ]


def _take_slot(destination: Destination) -> bool:
    """One of the destination's ``max_concurrency`` slots, held until the transaction ends
    (a killed worker's connection drops and its slot with it)."""
    base = _SLOT_NAMESPACE + destination.pk * 256
    with connection.cursor() as cursor:
        for slot in range(max(1, min(destination.max_concurrency, 256))):
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s::bigint)", [base + slot])
            if cursor.fetchone()[0]:
                return True
    return False


def backoff_seconds(attempts: int) -> float:
    """Exponential backoff with full jitter: between half and all of base·2^attempts."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * (2**attempts))
    return ceiling * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not security


def _mask(text: str, secrets: dict) -> str:
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


def _bulk(sql: str, params: list) -> None:
    """A statement of large arrays, bound server-side (Django's cursors bind on the client,
    quoting every element into the SQL text: several times slower at this size)."""
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params)


def _save(rows: list[_Row], attempts: dict[tuple, list[int]]) -> None:
    """Write a batch's outcomes: one UPDATE per distinct outcome (a batch usually has one or
    two) and one INSERT of attempts per distinct (request, outcome, error)."""
    groups: dict[tuple, list[int]] = {}
    for row in rows:
        key = (
            str(row.status),
            orjson.dumps(row.decision).decode(),
            row.attempts,
            row.next_attempt_at,
            row.last_error,
            row.dead_reason[:300],
            row.delivered_at,
        )
        groups.setdefault(key, []).append(row.delivery.pk)
    for (status, decision, tries, due, error, reason, delivered), ids in groups.items():
        _bulk(
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
            """
            INSERT INTO destinations_deliveryattempt
                (delivery_id, destination_id, request_id, started_at, latency_ms, status_code,
                 outcome, error)
            SELECT id, %s, %s, %s, %s, %s, %s, %s FROM unnest(%s::bigint[]) AS t(id)
            """,
            [destination_id, request_id, started, latency, status_code, outcome, error, ids],
        )


def destination_deliver(*, destination_id: int, now: datetime | None = None) -> DeliverResult:
    """Deliver one batch of ``destination_id``'s due deliveries (at most the platform's batch
    limit), under one of its concurrency slots."""
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
    adapter = adapter_for(destination.type)
    with transaction.atomic():
        if not _take_slot(destination):
            result.busy = True
            return result
        deliveries = _claim(destination, now, adapter.max_batch + 1)
        result.more = len(deliveries) > adapter.max_batch
        deliveries = deliveries[: adapter.max_batch]
        result.claimed = len(deliveries)
        if not deliveries:
            return result
        _process(destination, adapter, deliveries, now, result)
    if result.retried or result.dead:
        _autopause_check(destination.pk)  # after the commit: it reads the attempts just saved
    return result


def _process(destination, adapter, deliveries, now, result: DeliverResult) -> None:
    from destinations.routing.services import destination_secrets

    runtime = workspace_runtime(workspace=destination.workspace)
    consent_config = runtime.config.consent
    policy = destination_policy(destination, consent_config.policies)
    rows: dict[int, _Row] = {}
    outgoing: list[OutgoingEvent] = []
    for delivery in deliveries:
        signals = ConsentSignals.from_dict(delivery.event.consent)
        verdict = decide(
            consent=signals, policy=policy, jurisdiction=consent_config.jurisdiction(signals)
        )
        decision = verdict.to_dict()
        if verdict.action == ConsentAction.BLOCK:
            rows[delivery.pk] = _Row(
                delivery, DeliveryStatus.BLOCKED, decision, delivery.attempts, now
            )
            result.blocked += 1
            continue
        item = outgoing_event(
            delivery,
            destination,
            delivery.operational,
            anonymized=verdict.action == ConsentAction.DELIVER_ANONYMIZED,
            spec=adapter.spec,
            decision=decision,
        )
        refusal = adapter.precheck(item, now) if hasattr(adapter, "precheck") else None
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
            continue
        rows[delivery.pk] = _Row(delivery, DeliveryStatus.PENDING, decision, delivery.attempts, now)
        outgoing.append(item)

    attempts: dict[tuple, list[int]] = {}
    if outgoing:
        secrets = destination_secrets(destination)
        config = dict(destination.config)
        requests = adapter.build(config=config, secrets=secrets, events=outgoing, now=now)
        request_failed = 0
        for request in requests:
            started = timezone.now()
            answer = http.post(
                request.url,
                request.body,
                headers=request.headers,
                timeout=settings.DELIVERY_HTTP_TIMEOUT,
            )
            outcomes = adapter.parse(
                request=request,
                status=answer.status,
                body=answer.body,
                headers=answer.headers,
                error=answer.error,
            )
            request_id = uuid.uuid4()
            failed = _record_outcomes(
                destination,
                rows,
                outcomes,
                answer,
                started,
                request_id,
                secrets,
                now,
                attempts,
                result,
            )
            request_failed += failed
            result.requests.append(
                {
                    "status": answer.status,
                    "events": len(request.delivery_ids),
                    "ms": answer.elapsed_ms,
                }
            )
        _circuit(destination, failed_requests=request_failed, total=len(requests), now=now)
    _save(list(rows.values()), attempts)


def _record_outcomes(
    destination,
    rows,
    outcomes: list[ItemOutcome],
    answer,
    started,
    request_id,
    secrets,
    now,
    attempts,
    result,
) -> int:
    """Apply one request's outcomes; returns 1 when the request as a whole failed."""
    transient = False
    for outcome in outcomes:
        row = rows.get(outcome.delivery_id)
        if row is None:
            continue
        row.attempts += 1
        error = _mask(outcome.error, secrets)
        if outcome.outcome == Outcome.DELIVERED:
            row.status, row.delivered_at, row.last_error = DeliveryStatus.DELIVERED, now, ""
            recorded = AttemptOutcome.DELIVERED
            result.delivered += 1
        elif outcome.outcome == Outcome.RETRY and row.attempts < destination.max_attempts:
            transient = True
            wait = max(outcome.retry_after or 0.0, backoff_seconds(row.attempts))
            row.next_attempt_at = now + timedelta(seconds=wait)
            row.last_error = error
            recorded = AttemptOutcome.RETRY
            result.retried += 1
        else:
            if outcome.outcome == Outcome.RETRY:
                transient = True
                reason = f"gave up after {row.attempts} attempts: {error}"
            else:
                reason = f"refused by the platform: {error}"
            row.status, row.last_error, row.dead_reason = DeliveryStatus.DEAD, error, reason
            recorded = AttemptOutcome.FAILED
            result.dead += 1
        attempts.setdefault(
            (
                destination.pk,
                request_id,
                started,
                answer.elapsed_ms,
                answer.status,
                str(recorded),
                error,
            ),
            [],
        ).append(outcome.delivery_id)
    return 1 if transient or (answer.status is None or answer.status >= 400) else 0


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


def _autopause_check(destination_id: int) -> None:
    """Pause a destination whose requests failed at or above its threshold in its window."""
    destination = Destination.objects.filter(pk=destination_id).first()
    if destination is None or destination.state == DestinationState.PAUSED:
        return
    since = timezone.now() - timedelta(seconds=destination.autopause_window_seconds)
    if destination.resumed_at and destination.resumed_at > since:
        since = destination.resumed_at  # failures before a resume were already judged
    with connection.cursor() as cursor:
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
    if total < destination.autopause_min_attempts or not total:
        return
    rate = failed / total
    if rate < destination.autopause_error_rate:
        return
    from destinations.routing.services import destination_autopause

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


# --- Scheduling -----------------------------------------------------------------------------------


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


KICK_INTERVAL = 0.25
_last_kick = 0.0


def delivery_kick(*, destination_id: int | None = None) -> None:
    """Ask the workers to fan out and deliver now rather than at the next sweep (after
    ingestion, a resume or a replay). A no-op when kicks are off (most tests)."""
    if not settings.DELIVERY_KICK:
        return
    from destinations import tasks

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
                tasks.events_fanout_task.delay()
        else:
            tasks.destination_deliver_enqueue(destination_id)
    except Exception:  # the broker is down: the sweep will find the work in the database
        log.warning("could not enqueue delivery work; the sweep will pick it up", exc_info=True)


# --- Test events ----------------------------------------------------------------------------------


def destination_test_send(*, destination: Destination) -> dict:
    """Send one synthetic event straight to the platform (the platform's test mode where it
    has one) and report its answer. Nothing is stored."""
    from destinations.routing.services import destination_secrets

    adapter = adapter_for(destination.type)
    now = timezone.now()
    item = OutgoingEvent(
        delivery_id=0,
        event_id=f"tl-test-{uuid.uuid4()}",
        message_id=f"tl-test-{uuid.uuid4()}",
        event_name=destination.event_mapping.get("$page", "PageView"),
        event_type="page",
        timestamp=now,
        anonymized=False,
        external_id="0" * 64,
        user_data={"em": "a" * 64},
        ip="203.0.113.1",
        user_agent="TrackLayer test event",
        page_url="https://example.com/tracklayer-test",
    )
    secrets = destination_secrets(destination)
    refusal = adapter.precheck(item, now) if hasattr(adapter, "precheck") else None
    if refusal:
        return {"ok": False, "status": None, "error": refusal, "latency_ms": 0}
    [request] = adapter.build(
        config=dict(destination.config), secrets=secrets, events=[item], now=now
    )
    answer = http.post(
        request.url,
        request.body,
        headers=request.headers,
        timeout=settings.DELIVERY_HTTP_TIMEOUT,
    )
    [outcome] = adapter.parse(
        request=request,
        status=answer.status,
        body=answer.body,
        headers=answer.headers,
        error=answer.error,
    )
    return {
        "ok": outcome.outcome == Outcome.DELIVERED,
        "status": answer.status,
        "error": _mask(outcome.error, secrets),
        "latency_ms": answer.elapsed_ms,
    }
