"""One adapter per platform: build the platform's request from outgoing events and read its
answer. Nothing else — no I/O, no database, no retries (``destinations.delivery`` does those).

The registry is explicit: ``ADAPTERS`` lists every adapter by its destination type. The
contract is ``base`` (which imports no adapter); helpers the adapters share are ``common``.
"""

from destinations.adapters import ga4, meta, tiktok, webhook
from destinations.adapters.base import (
    Adapter,
    ItemOutcome,
    Outcome,
    OutgoingEvent,
    PlatformRequest,
)

ADAPTERS: dict[str, Adapter] = {
    adapter.type: adapter
    for adapter in (meta.ADAPTER, tiktok.ADAPTER, ga4.ADAPTER, webhook.ADAPTER)
}


def adapter_for(destination_type: str) -> Adapter:
    """The adapter of a destination type (``KeyError`` for a type that has none)."""
    return ADAPTERS[destination_type]


__all__ = [
    "ADAPTERS",
    "Adapter",
    "ItemOutcome",
    "Outcome",
    "OutgoingEvent",
    "PlatformRequest",
    "adapter_for",
]
