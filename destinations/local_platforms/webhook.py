"""A local webhook receiver, written the way docs/destinations-ga4-webhook.md asks receivers to
be: ``POST /webhook/hooks/<anything>``.

- It verifies ``X-TrackLayer-Signature`` over the raw body with the secret ``whsec_demo``, or
  the one given as ``?secret=…`` (several: ``?secret=a,b``, as a receiver rotating its own
  secret would hold both): a missing, wrong or stale signature gets ``401``.
- A body that is not a TrackLayer batch, or whose ``X-TrackLayer-Event-Count`` or
  ``Idempotency-Key`` does not match it, gets ``400``.
- A batch whose ``Idempotency-Key`` it has already accepted gets ``200`` again and is not
  accepted twice: a redelivery after a lost answer is harmless.

Each accepted event is recorded as sent, plus ``_hook`` (the path), ``_batch`` (the batch id)
and ``_idempotency_key``.
"""

import json
import threading
import time

from destinations.adapters.webhook import verify_signature
from destinations.local_platforms.server import PlatformState, Reply, failure

DEMO_SECRET = "whsec_demo"  # noqa: S105 - the documented secret of the local demo receiver
EVENT_KEYS = ("messageId", "event_id", "type", "event", "timestamp", "consent")


def _batch_problem(payload: object, headers: dict) -> str | None:
    if not isinstance(payload, dict):
        return "the body is not a JSON object"
    if not isinstance(payload.get("id"), str) or not payload["id"]:
        return "the batch has no id"
    events = payload.get("events")
    if not isinstance(events, list) or not events:
        return "the batch has no events"
    for index, event in enumerate(events):
        if not isinstance(event, dict) or any(key not in event for key in EVENT_KEYS):
            return f"event {index} lacks one of {', '.join(EVENT_KEYS)}"
    if headers.get("x-tracklayer-event-count") != str(len(events)):
        return "X-TrackLayer-Event-Count does not match the number of events"
    if headers.get("idempotency-key") != payload["id"]:
        return "Idempotency-Key does not match the batch id"
    return None


class WebhookPlatform:
    name = "webhook"

    def __init__(self):
        # Checking for a key and recording it happen together, so that two concurrent
        # deliveries of one batch are accepted once.
        self._dedup = threading.Lock()

    def handle(
        self,
        *,
        method: str,
        path: str,
        query: dict,
        headers: dict,
        body: bytes,
        state: PlatformState,
    ) -> Reply:
        behaviour = state.take_behaviour()
        if behaviour.delay:
            time.sleep(behaviour.delay)
        failing = failure(behaviour, self.name)
        if failing is not None:
            return failing
        if not path.startswith("/hooks/"):
            return Reply.json(404, {"error": "not found"})
        if method != "POST":
            return Reply(405, b"", {"Allow": "POST"})
        secrets = [s for s in (query.get("secret") or DEMO_SECRET).split(",") if s]
        if not verify_signature(secrets, headers.get("x-tracklayer-signature", ""), body):
            return Reply.json(401, {"error": "invalid or stale signature"})
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        problem = _batch_problem(payload, headers)
        if problem:
            return Reply.json(400, {"error": problem})
        key = payload["id"]
        with self._dedup:
            with state.lock:
                seen = any(item.get("_idempotency_key") == key for item in state.received)
            if not seen:
                state.accept(
                    [
                        {**event, "_hook": path, "_batch": key, "_idempotency_key": key}
                        for event in payload["events"]
                    ]
                )
        return Reply.json(200, {"received": len(payload["events"]), "duplicate": seen})


PLATFORM = WebhookPlatform()
