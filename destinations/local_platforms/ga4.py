"""A local GA4 Measurement Protocol: ``/ga4/mp/collect`` and ``/ga4/debug/mp/collect``.

Like Google's:

- ``/mp/collect`` answers ``204`` to any POST, whatever it does with the payload: Google
  "doesn't return an error code if the payload is malformed, or if the data is incorrect or not
  processed". Events that fail validation — and every event of a request with a missing
  ``measurement_id`` or an ``api_secret`` it does not know (here: ``invalid``) — are silently
  dropped; the problems go to the request log (``GET /__requests/ga4``) as
  ``validationMessages``, where a test or a developer can see them.
- ``/debug/mp/collect`` answers ``200 {"validationMessages": [...]}`` with Google's field paths,
  descriptions and codes, and records nothing (the validation server's events "do not appear
  in reports"). Like Google's, it does not check the API secret.

It validates as strictly as ``validation_behavior: ENFORCE_RECOMMENDATIONS`` would: names,
the 25-event/25-parameter/100-character limits, reserved names, ``client_id`` required, event
timestamps within the last 72 hours, hashed ``user_data`` values as 64 lowercase hex digits.
"""

import json
import re
import time
from datetime import UTC, datetime, timedelta

from destinations.adapters.ga4 import (
    MAX_BODY,
    MAX_EVENTS,
    MAX_PARAMS,
    MAX_USER_ID,
    MAX_VALUE,
    name_problem,
    param_name_ok,
)
from destinations.local_platforms.server import PlatformState, Reply, failure

REJECTED_SECRET = "invalid"  # noqa: S105 - the one secret this stand-in refuses
MAX_AGE = timedelta(hours=72)
CLOCK_SKEW = timedelta(minutes=1)  # how far in the future a timestamp may be
LOWER_HEX64 = re.compile(r"[0-9a-f]{64}")
HASHED_LISTS = ("sha256_email_address", "sha256_phone_number")
HASHED_ADDRESS = ("sha256_first_name", "sha256_last_name", "sha256_street")
CONSENT_VALUES = {"GRANTED", "DENIED"}
# Parameter values that may be longer than 100 characters (Google Tag Manager's values).
UNLIMITED_PARAMS = {"session_id", "session_number"}


def _message(path: str, description: str, code: str) -> dict:
    return {"fieldPath": path, "description": description, "validationCode": code}


def _check_timestamp(value: object, path: str, now: datetime) -> dict | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return _message(path, "timestamp_micros must be an integer.", "VALUE_INVALID")
    moment = datetime.fromtimestamp(value / 1_000_000, UTC)
    if moment < now - MAX_AGE or moment > now + CLOCK_SKEW:
        return _message(
            path,
            "Measurement timestamp_micros must be within the last 72 hours.",
            "VALUE_OUT_OF_BOUNDS",
        )
    return None


def _check_params(index: int, params: object) -> list[dict]:
    path = f"events[{index}].params"
    if params is None:
        return []
    if not isinstance(params, dict):
        description = f"Event at index: [{index}] has params that are not an object."
        return [_message(path, description, "VALUE_INVALID")]
    problems = []
    if len(params) > MAX_PARAMS:
        problems.append(
            _message(
                path,
                f"Event at index: [{index}] has {len(params)} parameters; at most "
                f"{MAX_PARAMS} are allowed.",
                "EXCEEDED_MAX_ENTITIES",
            )
        )
    for name, value in params.items():
        if not param_name_ok(name):
            problems.append(
                _message(
                    f"{path}.{name}",
                    f"Event at index: [{index}] has invalid parameter name [{name}].",
                    "NAME_INVALID",
                )
            )
        if name == "items":
            problems.extend(_check_items(index, value))
        elif isinstance(value, str) and len(value) > MAX_VALUE and name not in UNLIMITED_PARAMS:
            problems.append(
                _message(
                    f"{path}.{name}",
                    f"Event at index: [{index}] has parameter [{name}] with a value longer "
                    f"than {MAX_VALUE} characters.",
                    "VALUE_OUT_OF_BOUNDS",
                )
            )
    return problems


def _check_items(index: int, items: object) -> list[dict]:
    path = f"events[{index}].params.items"
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        description = f"Event at index: [{index}] has items that are not a list of objects."
        return [_message(path, description, "VALUE_INVALID")]
    problems = []
    for position, item in enumerate(items):
        if not item.get("item_id") and not item.get("item_name"):
            problems.append(
                _message(
                    f"{path}[{position}]",
                    f"Event at index: [{index}] has an item without item_id or item_name.",
                    "VALUE_REQUIRED",
                )
            )
        for name, value in item.items():
            if isinstance(value, str) and len(value) > MAX_VALUE:
                problems.append(
                    _message(
                        f"{path}[{position}].{name}",
                        f"Event at index: [{index}] has item parameter [{name}] with a value "
                        f"longer than {MAX_VALUE} characters.",
                        "VALUE_OUT_OF_BOUNDS",
                    )
                )
    return problems


def _check_event(index: int, event: object, now: datetime) -> list[dict]:
    if not isinstance(event, dict):
        description = f"Event at index: [{index}] is not an object."
        return [_message(f"events[{index}]", description, "VALUE_INVALID")]
    name = event.get("name")
    if not isinstance(name, str) or not name:
        description = f"Event at index: [{index}] has no name."
        return [_message(f"events[{index}].name", description, "VALUE_REQUIRED")]
    problems = []
    refused = name_problem(name)
    if refused:
        code = "NAME_RESERVED" if refused[0] != "event_name_invalid" else "NAME_INVALID"
        problems.append(
            _message(
                "events",
                f"Event at index: [{index}] has invalid name [{name}]. {refused[1]}",
                code,
            )
        )
    if "timestamp_micros" in event:
        problem = _check_timestamp(
            event["timestamp_micros"], f"events[{index}].timestamp_micros", now
        )
        if problem:
            problems.append(problem)
    problems.extend(_check_params(index, event.get("params")))
    return problems


def _check_user_data(user_data: object) -> list[dict]:
    if not isinstance(user_data, dict):
        return [_message("user_data", "user_data must be an object.", "VALUE_INVALID")]
    problems = []
    for key in HASHED_LISTS:
        values = user_data.get(key, [])
        if isinstance(values, str):
            values = [values]
        if not isinstance(values, list) or not all(
            isinstance(v, str) and LOWER_HEX64.fullmatch(v) for v in values
        ):
            problems.append(
                _message(
                    f"user_data.{key}",
                    f"{key} must hold SHA-256 digests as 64 lowercase hex digits.",
                    "VALUE_INVALID",
                )
            )
    addresses = user_data.get("address", [])
    if isinstance(addresses, dict):
        addresses = [addresses]
    if not isinstance(addresses, list) or not all(isinstance(a, dict) for a in addresses):
        description = "address must be a list of objects."
        return [*problems, _message("user_data.address", description, "VALUE_INVALID")]
    for position, address in enumerate(addresses):
        for key in HASHED_ADDRESS:
            value = address.get(key)
            if value is not None and not (isinstance(value, str) and LOWER_HEX64.fullmatch(value)):
                problems.append(
                    _message(
                        f"user_data.address[{position}].{key}",
                        f"{key} must be a SHA-256 digest as 64 lowercase hex digits.",
                        "VALUE_INVALID",
                    )
                )
    return problems


def validate(payload: object, now: datetime) -> tuple[list[dict], set[int]]:
    """(validation messages, indexes of the events that are valid). A request-level problem
    leaves no event valid."""
    if not isinstance(payload, dict):
        return [_message("", "The request body must be a JSON object.", "VALUE_INVALID")], set()
    request_level = []
    client_id = payload.get("client_id")
    if not isinstance(client_id, str) or not client_id:
        request_level.append(
            _message("client_id", "Measurement requires a client_id.", "VALUE_REQUIRED")
        )
    user_id = payload.get("user_id")
    if user_id is not None and (not isinstance(user_id, str) or len(user_id) > MAX_USER_ID):
        request_level.append(
            _message(
                "user_id",
                f"user_id must be text of at most {MAX_USER_ID} characters.",
                "VALUE_INVALID",
            )
        )
    if "timestamp_micros" in payload:
        problem = _check_timestamp(payload["timestamp_micros"], "timestamp_micros", now)
        if problem:
            request_level.append(problem)
    if "user_data" in payload:
        request_level.extend(_check_user_data(payload["user_data"]))
    consent = payload.get("consent", {})
    if not isinstance(consent, dict) or any(v not in CONSENT_VALUES for v in consent.values()):
        request_level.append(
            _message("consent", "Consent values must be GRANTED or DENIED.", "VALUE_INVALID")
        )
    events = payload.get("events")
    if not isinstance(events, list) or not events:
        request_level.append(
            _message("events", "Measurement requires at least one event.", "VALUE_REQUIRED")
        )
        return request_level, set()
    if len(events) > MAX_EVENTS:
        request_level.append(
            _message(
                "events",
                f"A request can have at most {MAX_EVENTS} events; it has {len(events)}.",
                "EXCEEDED_MAX_ENTITIES",
            )
        )
    per_event = [_check_event(i, event, now) for i, event in enumerate(events)]
    messages = request_level + [m for problems in per_event for m in problems]
    if request_level:
        return messages, set()
    return messages, {i for i, problems in enumerate(per_event) if not problems}


class GA4Platform:
    name = "ga4"

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
        if path not in {"/mp/collect", "/debug/mp/collect"}:
            return Reply.json(404, {"error": "not found"})
        if method != "POST":
            return Reply(405, b"", {"Allow": "POST"})
        now = datetime.now(UTC)
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            payload = None
        messages, valid = validate(payload, now)
        if len(body) >= MAX_BODY:
            messages.append(
                _message("", "The post body must be smaller than 130kB.", "VALUE_OUT_OF_BOUNDS")
            )
            valid = set()
        if path == "/debug/mp/collect":
            return Reply.json(200, {"validationMessages": messages})

        refusal = None
        if not query.get("measurement_id"):
            refusal = "measurement_id is missing: nothing recorded"
        elif not query.get("api_secret"):
            refusal = "api_secret is missing: nothing recorded"
        elif query["api_secret"] == REJECTED_SECRET:
            refusal = "api_secret is not one of this stream's secrets: nothing recorded"
        events = payload.get("events") if isinstance(payload, dict) else None
        accepted = []
        if refusal is None and valid:
            shared = {
                key: payload[key]
                for key in ("client_id", "user_id", "user_data", "consent", "ip_override")
                if key in payload
            }
            for index in sorted(valid):
                event = events[index]
                moment = event.get("timestamp_micros", payload.get("timestamp_micros"))
                accepted.append(
                    {
                        "measurement_id": query["measurement_id"],
                        **shared,
                        "name": event["name"],
                        "params": event.get("params") or {},
                        "timestamp_micros": moment or int(now.timestamp() * 1_000_000),
                    }
                )
            state.accept(accepted)
        if refusal or messages:
            count = len(events) if isinstance(events, list) else 0
            state.log(
                {
                    "method": method,
                    "path": path,
                    "problem": refusal or "events dropped: see validationMessages",
                    "validationMessages": messages,
                    "accepted": len(accepted),
                    "dropped": count - len(accepted),
                }
            )
        return Reply(204)


PLATFORM = GA4Platform()
