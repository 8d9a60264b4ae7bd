"""Signed webhooks: TrackLayer's own delivery format (docs/destinations-ga4-webhook.md).

One ``POST`` to the destination's URL per batch of at most ``batch_size`` events (default 100,
at most 1000), as JSON::

    {"id": "whb_…", "sent_at": "…Z", "events": [{"messageId", "event_id", "type", "event",
     "timestamp", "properties", "context", "identifiers"?, "consent": {"action", "reasons"}}]}

Guarantees:

- The body is signed: ``X-TrackLayer-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
  "<t>.<body>">``, one ``v1`` per active signing secret while a secret is being rotated.
  ``verify_signature`` is the receiver's side; the published snippets mirror it.
- ``Idempotency-Key`` (equal to the batch ``id``) depends only on the delivery ids the batch
  carries, so a redelivery of the same batch — after a timeout, a 5xx or a crash — carries the
  same key and a receiver can drop it.
- An anonymized event carries no ``identifiers`` and no IP address.
- 2xx: delivered; 408, 429, 5xx, no answer: retry (``Retry-After`` honoured); any other status
  (3xx included: redirects are not followed): failed.
"""

import hashlib
import hmac
import json
import time
from collections.abc import Iterable
from datetime import UTC, datetime

from destinations.adapters.base import ItemOutcome, Outcome, OutgoingEvent, PlatformRequest
from destinations.adapters.common import (
    outcome_for_status,
    page_fields,
    retry_after_seconds,
    short_error,
    url_problem,
)

SIGNATURE_HEADER = "X-TrackLayer-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
COUNT_HEADER = "X-TrackLayer-Event-Count"
USER_AGENT = "TrackLayer-Webhooks/1"
DEFAULT_BATCH_SIZE = 100
MAX_BATCH_SIZE = 1000
DEFAULT_TOLERANCE = 300  # seconds a signature stays valid, either side of the receiver's clock


# --- signing ---------------------------------------------------------------------------------


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``"<timestamp>.<body>"`` keyed with ``secret``."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secrets: Iterable[str], timestamp: int, body: bytes) -> str:
    """``t=<timestamp>,v1=<sig>[,v1=<sig>…]``: one ``v1`` per secret, in the order given."""
    parts = [f"t={timestamp}"]
    parts.extend(f"v1={sign(secret, timestamp, body)}" for secret in secrets)
    return ",".join(parts)


def verify_signature(
    secret: str | Iterable[str],
    header: str,
    body: bytes,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> bool:
    """True when ``header`` (``X-TrackLayer-Signature``) signs ``body`` (the raw bytes received,
    before any JSON parsing) with ``secret`` — or with one of several secrets, for a receiver
    that is rotating its own — and its timestamp is within ``tolerance`` seconds of ``now``.

    Any ``v1`` value may match (the sender lists one per active secret while rotating);
    unknown schemes (``v0=``, a future ``v2=``) are ignored. Comparisons are constant-time.
    """
    # An empty secret would let anyone sign: it never verifies anything.
    secrets = [s for s in ([secret] if isinstance(secret, str) else secret) if s]
    if not header or not secrets:
        return False
    timestamp = None
    candidates = []
    for item in header.split(","):
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep:
            continue
        if key == "t":
            if timestamp is not None or not value.isascii() or not value.isdigit():
                return False
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    expected = [sign(s, timestamp, body) for s in secrets]
    matched = False
    for candidate in candidates:
        for digest in expected:
            # No early exit: the time taken does not depend on which value matched.
            matched |= hmac.compare_digest(candidate.encode(), digest.encode())
    return matched


def _signing_secrets(secrets: dict) -> list[str]:
    """The secrets that sign: while one is being rotated both do, new first, so receivers
    holding either one keep verifying."""
    signing = [secrets["signing_secret"]]
    if secrets.get("previous_signing_secret"):
        signing.append(secrets["previous_signing_secret"])
    return signing


def _signed_headers(signing: list[str], timestamp: int, body: bytes, body_id: str) -> dict:
    """The headers of every signed POST: event batches and notices alike."""
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: signature_header(signing, timestamp, body),
        IDEMPOTENCY_HEADER: body_id,
    }


# --- the data-subject request notice ------------------------------------------------------

NOTICE_TYPE = "data_subject_request"


def _notice_id(request_id: str) -> str:
    material = request_id.encode()
    return "whn_" + hashlib.sha256(b"tracklayer-webhook-notice\x00" + material).hexdigest()[:40]


def notice_request(
    *,
    config: dict,
    secrets: dict,
    request_id: str,
    request_type: str,
    workspace: str,
    subjects: list[dict],
    now: datetime,
) -> PlatformRequest:
    """The signed ``data_subject_request`` notice of a deletion (docs/destinations-ga4-
    webhook.md, "Data-subject requests"): signed like an event batch, its ``Idempotency-Key``
    (its ``id``) fixed by the request id, so a notice sent again is the same notice.
    ``subjects`` carry hashes only (``privacy.requests.forwarding.NoticeSubject``)."""
    notice_id = _notice_id(request_id)
    body = json.dumps(
        {
            "id": notice_id,
            "type": NOTICE_TYPE,
            "request_id": request_id,
            "request_type": request_type,
            "workspace": workspace,
            "subjects": subjects,
            "sent_at": _timestamp(now),
        },
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    headers = _signed_headers(_signing_secrets(secrets), int(now.timestamp()), body, notice_id)
    return PlatformRequest(config["url"], headers, body, ())


def notice_outcome(status: int | None, error: str) -> tuple[bool, str]:
    """(accepted, detail) of a receiver's answer to a notice: any 2xx accepts it. The detail
    never quotes the answer's body (a receiver may echo the notice's hashes, and the detail
    goes into the audit log)."""
    if outcome_for_status(status) is Outcome.DELIVERED:
        return True, f"the receiver answered HTTP {status}"
    if status is None:
        return False, short_error(None, b"", error)
    if 300 <= status < 400:
        return False, f"HTTP {status}: redirects are not followed; use the final URL"
    return False, f"the receiver answered HTTP {status}"


# --- the adapter -------------------------------------------------------------------------------


def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _batch_id(delivery_ids: Iterable[int]) -> str:
    material = ",".join(str(d) for d in delivery_ids).encode()
    return "whb_" + hashlib.sha256(b"tracklayer-webhook-batch\x00" + material).hexdigest()[:40]


def consent_decision(event: OutgoingEvent) -> dict:
    """The consent decision that let ``event`` out: ``{"action", "reasons"}``.

    Read from ``event.decision`` or ``event.consent["decision"]`` when the engine supplies the
    stored ``Decision.to_dict()``; otherwise only the action is known (from ``anonymized``)."""
    decision = getattr(event, "decision", None) or (event.consent or {}).get("decision")
    if isinstance(decision, dict) and decision.get("action"):
        return {
            "action": str(decision["action"]),
            "reasons": [str(r) for r in decision.get("reasons") or ()],
        }
    return {"action": "deliver_anonymized" if event.anonymized else "deliver", "reasons": []}


def _context(event: OutgoingEvent) -> dict:
    """What the receiver may need of ``context``, nothing more: page, user agent, IP."""
    context: dict = {}
    page = page_fields(event)
    if page:
        context["page"] = page
    if event.user_agent and not event.anonymized:
        context["userAgent"] = event.user_agent
    if event.ip and not event.anonymized:
        context["ip"] = event.ip
    return context


def _identifiers(event: OutgoingEvent) -> dict:
    if event.anonymized:
        return {}
    identifiers: dict = {}
    if event.external_id:
        identifiers["externalId"] = event.external_id
    if event.anonymous_id:
        identifiers["anonymousId"] = event.anonymous_id
    if event.user_data:
        identifiers["userData"] = dict(event.user_data)
    if event.click_ids:
        identifiers["clickIds"] = dict(event.click_ids)
    return identifiers


def event_payload(event: OutgoingEvent) -> dict:
    """One event of a webhook batch."""
    payload = {
        "messageId": event.message_id,
        "event_id": event.event_id,
        "type": event.event_type,
        "event": event.event_name,
        "timestamp": _timestamp(event.timestamp),
        "properties": event.properties or {},
        "context": _context(event),
    }
    identifiers = _identifiers(event)
    if identifiers:
        payload["identifiers"] = identifiers
    payload["consent"] = consent_decision(event)
    return payload


def _batch_size(config: dict) -> int | None:
    raw = config.get("batch_size")
    if raw in (None, ""):
        return DEFAULT_BATCH_SIZE
    if isinstance(raw, bool):
        return None
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw.strip())
    if not isinstance(raw, int) or not 1 <= raw <= MAX_BATCH_SIZE:
        return None
    return raw


class WebhookAdapter:
    type = "webhook"
    max_batch = MAX_BATCH_SIZE  # ours; each destination chooses 1–1000 (default 100)
    max_age = None  # a receiver takes events of any age
    secret_fields = ("signing_secret",)
    # While the signing secret is rotated, the old one signs too (two v1 values).
    optional_secret_fields = ("previous_signing_secret",)
    config_fields = ("url", "batch_size")
    spec = "meta"  # identifiers.userData carries the Meta-normalised SHA-256 hashes
    identifiers = (
        ("identifiers.externalId", True),
        ("identifiers.userData", True),
        ("identifiers.anonymousId", False),
        ("identifiers.clickIds", False),
        ("context.ip", False),
        ("context.userAgent", False),
    )

    def validate_config(self, config: dict, secrets: dict) -> dict[str, str]:
        problems = {}
        problem = url_problem(config.get("url"))
        if problem:
            problems["url"] = problem
        if _batch_size(config) is None:
            problems["batch_size"] = f"Enter a whole number from 1 to {MAX_BATCH_SIZE}."
        # Messages, not passwords: S105 reads any string stored under a "secret" key as one.
        secret = secrets.get("signing_secret")
        if not isinstance(secret, str) or not secret.strip():
            problems["signing_secret"] = "A signing secret is required."  # noqa: S105
        previous = secrets.get("previous_signing_secret")
        if previous is not None and not isinstance(previous, str):
            problems["previous_signing_secret"] = "It must be text."  # noqa: S105
        return problems

    def precheck(self, event: OutgoingEvent, now: datetime) -> str | None:
        return None  # a receiver takes any event TrackLayer accepted

    def build(
        self, *, config: dict, secrets: dict, events: list[OutgoingEvent], now: datetime
    ) -> list[PlatformRequest]:
        size = _batch_size(config) or DEFAULT_BATCH_SIZE
        signing = _signing_secrets(secrets)
        timestamp = int(now.timestamp())
        requests = []
        for start in range(0, len(events), size):
            chunk = events[start : start + size]
            delivery_ids = tuple(e.delivery_id for e in chunk)
            batch_id = _batch_id(delivery_ids)
            body = json.dumps(
                {
                    "id": batch_id,
                    "sent_at": _timestamp(now),
                    "events": [event_payload(e) for e in chunk],
                },
                separators=(",", ":"),
                ensure_ascii=False,
                default=str,
            ).encode()
            headers = {
                **_signed_headers(signing, timestamp, body, batch_id),
                COUNT_HEADER: str(len(chunk)),
            }
            requests.append(PlatformRequest(config["url"], headers, body, delivery_ids))
        return requests

    def parse(
        self,
        *,
        request: PlatformRequest,
        status: int | None,
        body: bytes,
        headers: dict,
        error: str,
    ) -> list[ItemOutcome]:
        outcome = outcome_for_status(status)
        message = "" if outcome is Outcome.DELIVERED else short_error(status, body, error)
        if status is not None and 300 <= status < 400:
            message = f"HTTP {status}: redirects are not followed; use the final URL"
        wait = retry_after_seconds(headers) if outcome is Outcome.RETRY else None
        return [ItemOutcome(d, outcome, message, wait) for d in request.delivery_ids]


ADAPTER = WebhookAdapter()
