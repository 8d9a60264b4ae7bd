"""The contract between the delivery engine and the platform adapters.

The engine hands an adapter a list of ``OutgoingEvent`` (already filtered, renamed, mapped
and consent-checked; identifiers already removed when the decision was
``deliver_anonymized``) plus the destination's configuration and secrets. The adapter returns
the ``PlatformRequest`` to send — at most ``max_batch`` events per request — and, given the
platform's answer, one ``ItemOutcome`` per event.
"""

import contextlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Protocol

import orjson


@dataclass(frozen=True, slots=True)
class OutgoingEvent:
    """One event as a platform adapter sees it."""

    delivery_id: int  # the engine's handle; adapters return it in their outcomes
    event_id: str  # dedup key for the platform: properties.event_id, else messageId
    message_id: str
    event_name: str  # after the destination's name mapping (e.g. "Purchase")
    event_type: str  # track | page | screen | identify | group | alias
    timestamp: datetime  # aware UTC
    anonymized: bool  # the consent decision removed identifiers
    # Identifiers already hashed for this platform's spec (privacy.pii), e.g. {"em": "…"}.
    # Empty when anonymized.
    user_data: dict = field(default_factory=dict)
    external_id: str = ""  # hashed userId (spec's external_id); "" when anonymized
    anonymous_id: str = ""  # the SDK's anonymousId (kept even when anonymized? no: "")
    ip: str | None = None  # None when anonymized or purged
    user_agent: str = ""
    click_ids: dict = field(default_factory=dict)  # fbc, fbp, ttclid, gclid … ({} anonymized)
    page_url: str = ""  # context.page.url
    referrer: str = ""
    # Mapped commerce fields: value (float), currency (ISO 4217), contents (list of dicts
    # with id, quantity, item_price), content_ids, order_id …; plus everything else in
    # ``properties`` for platforms that take custom properties.
    custom_data: dict = field(default_factory=dict)
    properties: dict = field(default_factory=dict)
    consent: dict = field(default_factory=dict)  # the stored ConsentSignals dict
    action_source: str = "website"  # Meta's action_source


@dataclass(frozen=True, slots=True)
class PlatformRequest:
    url: str
    headers: dict[str, str]
    body: bytes
    delivery_ids: tuple[int, ...]  # the events this request carries, in order


class Outcome(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"  # a transient failure: try again later (5xx, timeout, 408, 429)
    FAILED = "failed"  # the platform refused this event for good (4xx, invalid data)


@dataclass(frozen=True, slots=True)
class ItemOutcome:
    delivery_id: int
    outcome: Outcome
    error: str = ""  # short, from the platform's error body; never a secret
    retry_after: float | None = None  # seconds, from Retry-After or the platform's hint


class Adapter(Protocol):
    type: str  # "meta_capi" | "tiktok_events" | "ga4_mp" | "webhook"
    max_batch: int  # the platform's published limit of events per request
    max_age: timedelta | None  # the platform refuses events older than this
    secret_fields: tuple[str, ...]  # names of the secrets this type needs
    config_fields: tuple[str, ...]  # names of its non-secret settings
    spec: str  # privacy.pii spec of its identifiers: "meta" | "google" | "tiktok"

    def validate_config(self, config: dict, secrets: dict) -> dict[str, str]:
        """Field name → message for each problem (empty when the configuration is usable)."""

    def build(
        self, *, config: dict, secrets: dict, events: list[OutgoingEvent], now: datetime
    ) -> list[PlatformRequest]:
        """The requests that carry ``events`` (split at ``max_batch``)."""

    def parse(
        self,
        *,
        request: PlatformRequest,
        status: int | None,
        body: bytes,
        headers: dict,
        error: str,
    ) -> list[ItemOutcome]:
        """One outcome per event of ``request``, from the platform's answer (``status`` None
        with ``error`` set: the request never got an answer — a timeout or a refused
        connection)."""


ADAPTERS: dict[str, Adapter] = {}


def register(adapter: Adapter) -> Adapter:
    ADAPTERS[adapter.type] = adapter
    return adapter


def adapter_for(destination_type: str) -> Adapter:
    # Importing the four modules registers them (a no-op after the first time).
    from destinations.adapters import ga4, meta, tiktok, webhook  # noqa: F401

    return ADAPTERS[destination_type]


# --- Answer handling shared by the adapters ---------------------------------------------------

_SECONDS = re.compile(r"[0-9]{1,9}(\.[0-9]+)?")


def header_value(headers: dict, name: str) -> str | None:
    wanted = name.lower()
    for key, value in (headers or {}).items():
        if str(key).lower() == wanted:
            return value
    return None


def retry_after_seconds(headers: dict) -> float | None:
    """``Retry-After`` in seconds: delta-seconds or an HTTP date (measured from the answer's
    ``Date`` when it has one, so a skewed local clock does not matter). None when absent."""
    raw = header_value(headers, "Retry-After")
    if raw is None:
        return None
    raw = str(raw).strip()
    if _SECONDS.fullmatch(raw):
        return float(raw)
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    reference = datetime.now(UTC)
    sent = header_value(headers, "Date")
    if sent:
        with contextlib.suppress(TypeError, ValueError, IndexError):
            reference = parsedate_to_datetime(str(sent))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if reference.tzinfo is None:
        reference = reference.replace(tzinfo=UTC)
    return max(0.0, (when - reference).total_seconds())


def batched_requests(
    events: list[OutgoingEvent],
    *,
    now: datetime,
    precheck,
    limit: int,
    url: str,
    headers: dict[str, str],
    body,
) -> list[PlatformRequest]:
    """Requests of at most ``limit`` events, ``body(chunk)`` each (JSON). An event that
    ``precheck`` refuses goes in a request of its own: a platform that fails a whole request
    for one bad event then fails only that one (the engine dead-letters such events before
    ``build``; this is the safety net)."""
    sendable, refused = [], []
    for event in events:
        (refused if precheck(event, now) else sendable).append(event)
    chunks = [sendable[i : i + limit] for i in range(0, len(sendable), limit)]
    chunks += [[event] for event in refused]
    return [
        PlatformRequest(
            url,
            dict(headers),
            orjson.dumps(body(chunk), default=str),
            tuple(event.delivery_id for event in chunk),
        )
        for chunk in chunks
    ]
