"""The destinations app's models, one module per concept; re-exported here so that Django
(app_label ``destinations``, migrations unchanged) and callers see one ``destinations.models``."""

from destinations.models.deliveries import (
    AttemptOutcome,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
)
from destinations.models.destinations import Destination, DestinationState, DestinationType
from destinations.models.events import (
    Event,
    EventMessageId,
    EventOperational,
    EventStatus,
    EventType,
    IngestionSettings,
)
from destinations.models.metrics import MinuteFigure, RejectedEvent
from destinations.models.tracking_plans import (
    TrackingPlan,
    TrackingPlanMode,
    TrackingPlanViolation,
)

__all__ = [
    "AttemptOutcome",
    "Delivery",
    "DeliveryAttempt",
    "DeliveryStatus",
    "Destination",
    "DestinationState",
    "DestinationType",
    "Event",
    "EventMessageId",
    "EventOperational",
    "EventStatus",
    "EventType",
    "IngestionSettings",
    "MinuteFigure",
    "RejectedEvent",
    "TrackingPlan",
    "TrackingPlanMode",
    "TrackingPlanViolation",
]
