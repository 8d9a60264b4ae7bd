"""The contract between the delivery engine and the platform adapters.

The engine hands an adapter a list of ``OutgoingEvent`` (already filtered, renamed, mapped
and consent-checked; identifiers already removed when the decision was
``deliver_anonymized``) plus the destination's configuration and secrets. The adapter returns
the ``PlatformRequest`` to send — at most ``max_batch`` events per request — and, given the
platform's answer, one ``ItemOutcome`` per event.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol


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
    # What it sends about a person, as its requests name it: (name, whether it is SHA-256
    # hashed before it leaves). The compliance inventory reads it (docs/evidence-center.md).
    identifiers: tuple[tuple[str, bool], ...]

    def validate_config(self, config: dict, secrets: dict) -> dict[str, str]:
        """Field name → message for each problem (empty when the configuration is usable)."""

    def precheck(self, event: OutgoingEvent, now: datetime) -> str | None:
        """Why the platform would refuse ``event`` whatever happens (too old, no customer
        information …), or None. The engine dead-letters such an event instead of sending it,
        so that it cannot make the platform refuse a whole batch."""

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
