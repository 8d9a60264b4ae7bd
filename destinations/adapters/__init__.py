"""One adapter per platform: build the platform's request from outgoing events and read its
answer. Nothing else — no I/O, no database, no retries (``destinations.delivery`` does those).

``ADAPTERS`` maps a destination type to its adapter (filled in by the modules below).
"""

from destinations.adapters.base import (  # noqa: F401
    ADAPTERS,
    Adapter,
    ItemOutcome,
    Outcome,
    OutgoingEvent,
    PlatformRequest,
    adapter_for,
)
