"""Delivery: fan-out of accepted events into deliveries, the engine that sends them, the
schedule of what is due, and the one-off test send. These are the package's entry points;
callers (tasks, ingestion, routing) use them through ``destinations.delivery``."""

from destinations.delivery.engine import (
    CIRCUIT_THRESHOLD,
    FANOUT_BATCH,
    DeliverResult,
    delivery_kick,
    destination_deliver,
    destination_test_send,
    due_destination_ids,
    events_fanout,
    has_due,
)

__all__ = [
    "CIRCUIT_THRESHOLD",
    "FANOUT_BATCH",
    "DeliverResult",
    "delivery_kick",
    "destination_deliver",
    "destination_test_send",
    "due_destination_ids",
    "events_fanout",
    "has_due",
]
