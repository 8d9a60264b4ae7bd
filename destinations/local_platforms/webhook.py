"""A local webhook receiver, written the way docs/destinations-ga4-webhook.md asks receivers to
be: ``POST /webhook/hooks/<anything>``.

It checks the signature with its own code, written from the documented scheme (the
"Signature" section of docs/destinations-ga4-webhook.md), not with the adapter's
``verify_signature``: a receiver that shared the sender's code would accept whatever the sender
gets wrong. The scheme, as documented:

- ``X-TrackLayer-Signature: t=<unix seconds>,v1=<signature>[,v1=<signature>…]``;
- ``signature`` is the lowercase hex HMAC-SHA256, keyed with the signing secret, of the bytes
  ``<t>`` + ``.`` + ``<raw body>``;
- a receiver compares in constant time against every ``v1`` and accepts if any matches, refuses
  a ``t`` more than 5 minutes from its clock either way, and ignores other schemes (``v0=``,
  a future ``v2=``).

Where the docs are silent this receiver is strict (ours): a ``t`` that is not plain digits, a
second ``t``, an item without ``=`` or an empty header is refused; spaces around items are
allowed (the docs' own examples vary).

- The secret is ``whsec_demo``, or the one given as ``?secret=…`` (several: ``?secret=a,b``, as a
  receiver rotating its own secret would hold both): a missing, wrong or stale signature gets
  ``401``.
- A body that is not a TrackLayer batch, or whose ``X-TrackLayer-Event-Count`` or
  ``Idempotency-Key`` does not match it, gets ``400`` (the "The request" and "Idempotency"
  sections of the same page).
- A batch whose ``Idempotency-Key`` it has already accepted gets ``200`` again and is not
  accepted twice: a redelivery after a lost answer is harmless.

Each accepted event is recorded as sent, plus ``_hook`` (the path), ``_batch`` (the batch id)
and ``_idempotency_key``.

A data-subject request notice (``"type": "data_subject_request"``, the "Data-subject
requests" section of the same page) is signed the same way and checked the same way; its
shape as documented — ``id`` (equal to ``Idempotency-Key``), ``request_id``,
``request_type`` (``delete`` or ``suppress_with_delete``), ``workspace``, ``sent_at`` and a
non-empty list of ``subjects``, each holding only ``email_sha256`` and ``phone_sha256``
(lists) and ``user_id_sha256`` and ``anonymous_id_sha256``, every value 64 lowercase hex
digits — or ``400``. It is recorded once per ``Idempotency-Key`` (``_kind: "notice"``).
"""

import hashlib
import hmac
import json
import re
import threading
import time

from destinations.local_platforms.base import PlatformState, Reply, failure

DEMO_SECRET = "whsec_demo"  # noqa: S105 - the documented secret of the local demo receiver
TOLERANCE_SECONDS = 5 * 60  # "more than 5 minutes from its own clock, either way"
EVENT_KEYS = ("messageId", "event_id", "type", "event", "timestamp", "consent")
NOTICE_TYPE = "data_subject_request"
NOTICE_KEYS = ("id", "request_id", "request_type", "workspace", "subjects", "sent_at")
NOTICE_REQUEST_TYPES = ("delete", "suppress_with_delete")
SUBJECT_LISTS = ("email_sha256", "phone_sha256")
SUBJECT_VALUES = ("user_id_sha256", "anonymous_id_sha256")
_HEX64 = re.compile(r"[0-9a-f]{64}")


def signature_valid(
    secrets: list[str], header: str, body: bytes, *, now: float | None = None
) -> bool:
    """Whether ``header`` (``X-TrackLayer-Signature``) signs ``body`` with one of ``secrets``,
    by the documented scheme (see the module's docstring)."""
    stamp: str | None = None
    signatures: list[str] = []
    for item in header.split(",") if header else ():
        scheme, equals, value = (part.strip() for part in item.partition("="))
        if not equals:
            return False  # not "scheme=value": not a header TrackLayer writes
        if scheme == "t":
            if stamp is not None:
                return False  # two timestamps: which one was signed?
            stamp = value
        elif scheme == "v1":
            signatures.append(value)
        # any other scheme is ignored, as the docs require
    if stamp is None or not signatures or not (stamp.isascii() and stamp.isdigit()):
        return False
    clock = time.time() if now is None else now
    if abs(clock - int(stamp)) > TOLERANCE_SECONDS:
        return False
    message = stamp.encode("ascii") + b"." + body
    wanted = [
        hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest().encode("ascii")
        for secret in secrets
        if secret
    ]
    # Bytes, because compare_digest refuses non-ASCII text (a forged header may hold some);
    # every comparison is made, so the time taken says nothing about which one matched.
    matches = [
        hmac.compare_digest(given.encode("utf-8"), want) for given in signatures for want in wanted
    ]
    return any(matches)


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


def _digest(value: object) -> bool:
    return isinstance(value, str) and _HEX64.fullmatch(value) is not None


def _notice_problem(payload: dict, headers: dict) -> str | None:
    if any(not payload.get(key) for key in NOTICE_KEYS):
        return "the notice lacks one of " + ", ".join(NOTICE_KEYS)
    if payload["request_type"] not in NOTICE_REQUEST_TYPES:
        return "request_type is not a deletion"
    if not isinstance(payload["subjects"], list):
        return "subjects is not a list"
    for index, subject in enumerate(payload["subjects"]):
        if not isinstance(subject, dict) or not subject:
            return f"subject {index} is not an object of hashes"
        for key, value in subject.items():
            if key in SUBJECT_LISTS:
                valid = isinstance(value, list) and bool(value) and all(map(_digest, value))
            elif key in SUBJECT_VALUES:
                valid = _digest(value)
            else:
                return f"subject {index} holds {key!r}, which is not a documented hash"
            if not valid:
                return f"subject {index}: {key} is not SHA-256 hex"
    if headers.get("idempotency-key") != payload["id"]:
        return "Idempotency-Key does not match the notice id"
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
        if not signature_valid(secrets, headers.get("x-tracklayer-signature", ""), body):
            return Reply.json(401, {"error": "invalid or stale signature"})
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if isinstance(payload, dict) and payload.get("type") == NOTICE_TYPE:
            return self._notice(path, payload, headers, state)
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

    def _notice(self, path: str, payload: dict, headers: dict, state: PlatformState) -> Reply:
        problem = _notice_problem(payload, headers)
        if problem:
            return Reply.json(400, {"error": problem})
        key = payload["id"]
        with self._dedup:
            with state.lock:
                seen = any(item.get("_idempotency_key") == key for item in state.received)
            if not seen:
                record = {**payload, "_kind": "notice", "_hook": path, "_idempotency_key": key}
                state.accept([record])
        return Reply.json(200, {"received": "notice", "duplicate": seen})


PLATFORM = WebhookPlatform()
