"""A test event: one synthetic event sent straight to the platform (its test mode where it has
one) so that an operator sees at once whether the settings work. Nothing is stored."""

import uuid

from django.utils import timezone

from destinations.adapters import Outcome, OutgoingEvent, adapter_for
from destinations.delivery.engine import mask_secrets, send
from destinations.models import Destination
from destinations.routing.secrets import destination_secrets


def destination_test_send(*, destination: Destination) -> dict:
    """Send one synthetic event straight to the platform (the platform's test mode where it
    has one) and report its answer. Nothing is stored."""
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
    refusal = adapter.precheck(item, now)
    if refusal:
        return {"ok": False, "status": None, "error": refusal, "latency_ms": 0}
    [request] = adapter.build(
        config=dict(destination.config), secrets=secrets, events=[item], now=now
    )
    answer, [outcome] = send(adapter, request)
    return {
        "ok": outcome.outcome == Outcome.DELIVERED,
        "status": answer.status,
        "error": mask_secrets(outcome.error, secrets),
        "latency_ms": answer.elapsed_ms,
    }
