"""Delivery: fan-out of accepted events into deliveries (``fanout``), what a platform receives
(``mapping``), the engine that claims, sends, records and retries (``engine``), the automatic
pause (``autopause``), what is due and telling the workers (``scheduling``) and the one-off
test send (``test_send``). The names below are the package's entry points."""

from destinations.delivery.engine import (
    CIRCUIT_THRESHOLD,
    PROBE_BATCH,
    DeliverResult,
    destination_deliver,
)
from destinations.delivery.fanout import FANOUT_BATCH, events_fanout
from destinations.delivery.scheduling import delivery_kick, due_destination_ids, has_due
from destinations.delivery.test_send import destination_test_send

__all__ = [
    "CIRCUIT_THRESHOLD",
    "FANOUT_BATCH",
    "PROBE_BATCH",
    "DeliverResult",
    "delivery_kick",
    "destination_deliver",
    "destination_test_send",
    "due_destination_ids",
    "events_fanout",
    "has_due",
]
