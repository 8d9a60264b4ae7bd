"""A local GA4 Measurement Protocol: ``/ga4/mp/collect`` and ``/ga4/debug/mp/collect``.

Written from Google's published pages, not from the adapter it checks: it imports nothing from
``destinations.adapters`` (or any other TrackLayer package), so a limit or a name rule the
adapter gets wrong is refused here instead of being agreed with.

- ``/mp/collect`` answers ``204`` to any POST, whatever it does with the payload: the protocol
  "always returns a 2xx status code if the HTTP request was received" and "does not return an
  error code if the payload data was malformed, or if the data in the payload was incorrect or
  was not processed" [GA1]. Events that fail validation — and every event of a request with a
  missing ``measurement_id`` or an ``api_secret`` it does not know (here: ``invalid``) — are
  silently dropped; the problems go to the request log (``GET /__requests/ga4``) as
  ``validationMessages``, where a test or a developer can see them.
- ``/debug/mp/collect`` answers ``200 {"validationMessages": [{"fieldPath", "description",
  "validationCode"}]}``, and records nothing: "Events sent to the Validation Server are not
  processed" [GA3]. Like Google's, it does not check the API secret [GA3]. Event-level messages
  say ``fieldPath: "events"`` and ``"Event at index: [i] …"``, as Google's example does [GA3].

What it refuses, as ``validation_behavior: ENFORCE_RECOMMENDATIONS`` would [GA1, GA2]:

- more than 25 events, or none ("Requests can have a maximum of 25 events") [GA2];
- more than 25 parameters on an event ("Events can have a maximum of 25 parameters") [GA2];
- an event or parameter name (item parameters included) over 40 characters, not starting with
  a letter, or holding anything but letters, digits and ``_`` [GA2, GA3] (letters in any
  script: names "can include English and non-English words and letters" [GA6]);
- a reserved event name [GA1]; ``ad_impression``, ``in_app_purchase``, ``screen_view``, which
  the reference allows for app streams only [GA1]; an event name starting with ``firebase_``,
  ``google_`` or ``ga_`` (reserved by Firebase's logging rules [FB1]);
- a parameter name starting with ``_``, ``firebase_``, ``ga_``, ``google_`` or ``gtag.``, or
  ``firebase_conversion`` [GA1, GA6];
- a text value over 100 characters ("Parameter values (including item parameter values) must
  be 100 character or fewer") [GA2], except the three Google allows longer: ``page_title`` 300,
  ``page_referrer`` 420, ``page_location`` 1,000 characters [GA8];
- an item with neither ``item_id`` nor ``item_name`` ("One of item_id or item_name is
  required") [GA5], or with more than 10 custom parameters ("Item parameters can have a
  maximum of 10 custom parameters") [GA2];
- no ``client_id`` (required for web streams) [GA1]; a ``user_id`` that is not text of at most
  256 characters ("Each user ID must be 256 characters or less") [GA9];
- a ``timestamp_micros`` (request or event) older than 72 hours ("Events … can be backdated up
  to 72 hours"; ``ENFORCE_RECOMMENDATIONS`` rejects what ``RELAXED`` re-stamps) [GA2], or more
  than a minute ahead (ours: clock skew);
- ``user_data`` values that are not SHA-256 digests in hex (e-mail, phone, first and last name,
  street are "hashed" fields [GA4]; ours: lowercase, as Python's and JavaScript's digests print);
- ``consent`` values other than ``GRANTED``/``DENIED`` [GA1];
- a body of 130 kB or more ("The post body must be smaller than 130kB") [GA2].

Sources (read through the search tool's stored copies, December 2026):

- [GA1] Measurement Protocol reference:
  https://developers.google.com/analytics/devguides/collection/protocol/ga4/reference
- [GA2] Send Measurement Protocol events (Limitations, timestamps):
  https://developers.google.com/analytics/devguides/collection/protocol/ga4/sending-events
- [GA3] Validate events: https://developers.google.com/analytics/devguides/collection/protocol/ga4/validating-events
- [GA4] User-provided data: https://developers.google.com/analytics/devguides/collection/ga4/uid-data
- [GA5] Events reference, ``purchase`` items:
  https://developers.google.com/analytics/devguides/collection/protocol/ga4/reference/events
- [GA6] [GA4] Event naming rules: https://support.google.com/analytics/answer/13316687
- [GA9] User-ID: https://support.google.com/analytics/answer/9213390 and /answer/16757557
- [GA8] [GA4] Event collection limits: https://support.google.com/analytics/answer/9267744
- [FB1] Firebase ``Parameter`` / ``logEvent`` reference ("The "firebase_", "google_" and "ga_"
  prefixes are reserved"):
  https://firebase.google.com/docs/reference/cpp/struct/firebase/analytics/parameter
"""

import json
import re
import time
from datetime import UTC, datetime, timedelta

from destinations.local_platforms.base import PlatformState, Reply, failure

REJECTED_SECRET = "invalid"  # noqa: S105 - the one secret this stand-in refuses

EVENTS_PER_REQUEST = 25  # [GA2]
PARAMS_PER_EVENT = 25  # [GA2]
CUSTOM_ITEM_PARAMS = 10  # [GA2]
NAME_LENGTH = 40  # [GA2]
VALUE_LENGTH = 100  # [GA2]
USER_ID_LENGTH = 256  # [GA9]
BODY_BYTES = 130_000  # "smaller than 130kB" [GA2]
BACKDATE = timedelta(hours=72)  # [GA2]
CLOCK_SKEW = timedelta(minutes=1)  # ours: how far in the future a timestamp may be

# [GA1] "Reserved names": events no stream may send.
RESERVED_EVENTS = frozenset(
    [
        "ad_activeview",
        "ad_click",
        "ad_exposure",
        "ad_query",
        "ad_reward",
        "adunit_exposure",
        "app_clear_data",
        "app_exception",
        "app_install",
        "app_remove",
        "app_store_refund",
        "app_update",
        "app_upgrade",
        "dynamic_link_app_open",
        "dynamic_link_app_update",
        "dynamic_link_first_open",
        "error",
        "firebase_campaign",
        "firebase_in_app_message_action",
        "firebase_in_app_message_dismiss",
        "firebase_in_app_message_impression",
        "first_open",
        "first_visit",
        "notification_dismiss",
        "notification_foreground",
        "notification_open",
        "notification_receive",
        "notification_send",
        "os_update",
        "session_start",
        "user_engagement",
    ]
)
APP_STREAM_EVENTS = frozenset({"ad_impression", "in_app_purchase", "screen_view"})  # [GA1]
EVENT_PREFIXES = ("firebase_", "google_", "ga_")  # [FB1]
PARAM_PREFIXES = ("_", "firebase_", "ga_", "google_", "gtag.")  # [GA1, GA6]
RESERVED_PARAMS = frozenset({"firebase_conversion"})  # [GA1]
# The item parameters Google documents [GA5]; any other key of an item is a custom one.
ITEM_PARAMS = frozenset(
    [
        "item_id",
        "item_name",
        "affiliation",
        "coupon",
        "discount",
        "index",
        "item_brand",
        "item_category",
        "item_category2",
        "item_category3",
        "item_category4",
        "item_category5",
        "item_list_id",
        "item_list_name",
        "item_variant",
        "location_id",
        "price",
        "quantity",
        "promotion_id",
        "promotion_name",
        "creative_name",
        "creative_slot",
    ]
)
LONGER_VALUES = {"page_title": 300, "page_referrer": 420, "page_location": 1000}  # [GA8]
HASHED_LISTS = ("sha256_email_address", "sha256_phone_number")  # [GA4]
HASHED_ADDRESS = ("sha256_first_name", "sha256_last_name", "sha256_street")  # [GA4]
CONSENT_VALUES = frozenset({"GRANTED", "DENIED"})  # [GA1]

_DIGEST = re.compile(r"[0-9a-f]{64}")


def _message(path: str, description: str, code: str) -> dict:
    return {"fieldPath": path, "description": description, "validationCode": code}


def _name_shape(name: str) -> str | None:
    """Why ``name`` is not a valid event or parameter name [GA2], or None."""
    if len(name) > NAME_LENGTH:
        return f"Names must be {NAME_LENGTH} characters or fewer."
    # Letters and digits of any script [GA6]; "Ⅻ" is a number (isalpha), not a letter.
    if not name[:1].isalpha():
        return "Names must start with an alphabetic character."
    if not all(c.isalnum() or c == "_" for c in name):
        return "Names may only contain alpha-numeric characters and underscores."
    return None


def _event_name(index: int, name: str) -> dict | None:
    shape = _name_shape(name)
    if shape:
        return _message(
            "events",
            f"Event at index: [{index}] has invalid name [{name}]. {shape}",
            "NAME_INVALID",
        )
    if name in RESERVED_EVENTS or name.startswith(EVENT_PREFIXES):
        why = "This name is reserved."
    elif name in APP_STREAM_EVENTS:
        why = "This name is reserved for app streams."
    else:
        return None
    return _message(
        "events", f"Event at index: [{index}] has reserved name [{name}]. {why}", "NAME_RESERVED"
    )


def _param_name(index: int, path: str, name: object) -> dict | None:
    if not isinstance(name, str):
        return _message(
            path,
            f"Event at index: [{index}] has a parameter name that is not text.",
            "NAME_INVALID",
        )
    shape = _name_shape(name)
    if shape:
        return _message(
            f"{path}.{name}",
            f"Event at index: [{index}] has invalid parameter name [{name}]. {shape}",
            "NAME_INVALID",
        )
    if name in RESERVED_PARAMS or name.startswith(PARAM_PREFIXES):
        return _message(
            f"{path}.{name}",
            f"Event at index: [{index}] has reserved parameter name [{name}].",
            "NAME_RESERVED",
        )
    return None


def _too_long(value: object, limit: int = VALUE_LENGTH) -> bool:
    return isinstance(value, str) and len(value) > limit


def _check_timestamp(value: object, path: str, now: datetime, index: int | None) -> dict | None:
    where = f"Event at index: [{index}] has " if index is not None else ""
    if isinstance(value, bool) or not isinstance(value, int):
        return _message(path, f"{where}timestamp_micros must be an integer.", "VALUE_INVALID")
    try:
        moment = datetime.fromtimestamp(value / 1_000_000, UTC)
    except (OverflowError, OSError, ValueError):
        moment = None
    if moment is None or moment < now - BACKDATE or moment > now + CLOCK_SKEW:
        return _message(
            path,
            f"{where}timestamp_micros outside the last 72 hours: events can be backdated up "
            "to 72 hours.",
            "VALUE_OUT_OF_BOUNDS",
        )
    return None


def _check_items(index: int, items: object) -> list[dict]:
    path = f"events[{index}].params.items"
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        description = f"Event at index: [{index}] has items that are not a list of objects."
        return [_message(path, description, "VALUE_INVALID")]
    problems = []
    for position, item in enumerate(items):
        at = f"{path}[{position}]"
        if item.get("item_id") in (None, "") and item.get("item_name") in (None, ""):
            problems.append(
                _message(
                    at,
                    f"Event at index: [{index}] has an item without item_id or item_name.",
                    "VALUE_REQUIRED",
                )
            )
        custom = [name for name in item if name not in ITEM_PARAMS]
        if len(custom) > CUSTOM_ITEM_PARAMS:
            problems.append(
                _message(
                    at,
                    f"Event at index: [{index}] has an item with {len(custom)} custom "
                    f"parameters; at most {CUSTOM_ITEM_PARAMS} are allowed.",
                    "EXCEEDED_MAX_ENTITIES",
                )
            )
        for name, value in item.items():
            problem = _param_name(index, at, name)
            if problem:
                problems.append(problem)
            if _too_long(value):
                problems.append(
                    _message(
                        f"{at}.{name}",
                        f"Event at index: [{index}] has item parameter [{name}] with a value "
                        f"longer than {VALUE_LENGTH} characters.",
                        "VALUE_OUT_OF_BOUNDS",
                    )
                )
    return problems


def _check_params(index: int, params: object) -> list[dict]:
    path = f"events[{index}].params"
    if params is None:
        return []
    if not isinstance(params, dict):
        description = f"Event at index: [{index}] has params that are not an object."
        return [_message(path, description, "VALUE_INVALID")]
    problems = []
    if len(params) > PARAMS_PER_EVENT:
        problems.append(
            _message(
                path,
                f"Event at index: [{index}] has {len(params)} parameters; at most "
                f"{PARAMS_PER_EVENT} are allowed.",
                "EXCEEDED_MAX_ENTITIES",
            )
        )
    for name, value in params.items():
        problem = _param_name(index, path, name)
        if problem:
            problems.append(problem)
        if name == "items":
            problems.extend(_check_items(index, value))
        elif _too_long(value, limit := LONGER_VALUES.get(name, VALUE_LENGTH)):
            problems.append(
                _message(
                    f"{path}.{name}",
                    f"Event at index: [{index}] has parameter [{name}] with a value longer "
                    f"than {limit} characters.",
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
    problem = _event_name(index, name)
    if problem:
        problems.append(problem)
    if "timestamp_micros" in event:
        problem = _check_timestamp(
            event["timestamp_micros"], f"events[{index}].timestamp_micros", now, index
        )
        if problem:
            problems.append(problem)
    problems.extend(_check_params(index, event.get("params")))
    return problems


def _is_digest(value: object) -> bool:
    return isinstance(value, str) and _DIGEST.fullmatch(value) is not None


def _check_user_data(user_data: object) -> list[dict]:
    if not isinstance(user_data, dict):
        return [_message("user_data", "user_data must be an object.", "VALUE_INVALID")]
    problems = []
    for key in HASHED_LISTS:
        values = user_data.get(key, [])
        values = [values] if isinstance(values, str) else values
        if not isinstance(values, list) or not all(_is_digest(v) for v in values):
            problems.append(
                _message(
                    f"user_data.{key}",
                    f"{key} must hold SHA-256 digests as 64 lowercase hex digits.",
                    "VALUE_INVALID",
                )
            )
    addresses = user_data.get("address", [])
    addresses = [addresses] if isinstance(addresses, dict) else addresses
    if not isinstance(addresses, list) or not all(isinstance(a, dict) for a in addresses):
        description = "address must be a list of objects."
        return [*problems, _message("user_data.address", description, "VALUE_INVALID")]
    for position, address in enumerate(addresses):
        for key in HASHED_ADDRESS:
            if key in address and not _is_digest(address[key]):
                problems.append(
                    _message(
                        f"user_data.address[{position}].{key}",
                        f"{key} must be a SHA-256 digest as 64 lowercase hex digits.",
                        "VALUE_INVALID",
                    )
                )
    return problems


def _request_problems(payload: dict, now: datetime) -> list[dict]:
    problems = []
    client_id = payload.get("client_id")
    if not isinstance(client_id, str) or not client_id:
        problems.append(
            _message("client_id", "Measurement requires a client_id.", "VALUE_REQUIRED")
        )
    user_id = payload.get("user_id")
    if user_id is not None and (not isinstance(user_id, str) or len(user_id) > USER_ID_LENGTH):
        problems.append(
            _message(
                "user_id",
                f"user_id must be text of at most {USER_ID_LENGTH} characters.",
                "VALUE_INVALID",
            )
        )
    if "timestamp_micros" in payload:
        problem = _check_timestamp(payload["timestamp_micros"], "timestamp_micros", now, None)
        if problem:
            problems.append(problem)
    if "user_data" in payload:
        problems.extend(_check_user_data(payload["user_data"]))
    consent = payload.get("consent", {})
    if not isinstance(consent, dict) or any(v not in CONSENT_VALUES for v in consent.values()):
        problems.append(
            _message("consent", "Consent values must be GRANTED or DENIED.", "VALUE_INVALID")
        )
    return problems


def validate(payload: object, now: datetime) -> tuple[list[dict], set[int]]:
    """(validation messages, indexes of the events that are valid). A request-level problem
    leaves no event valid."""
    if not isinstance(payload, dict):
        return [_message("", "The request body must be a JSON object.", "VALUE_INVALID")], set()
    request_level = _request_problems(payload, now)
    events = payload.get("events")
    if not isinstance(events, list) or not events:
        request_level.append(
            _message("events", "Measurement requires at least one event.", "VALUE_REQUIRED")
        )
        return request_level, set()
    if len(events) > EVENTS_PER_REQUEST:
        request_level.append(
            _message(
                "events",
                f"A request can have at most {EVENTS_PER_REQUEST} events; it has {len(events)}.",
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
        if method != "POST":  # "only supports HTTP POST requests" [GA2]
            return Reply(405, b"", {"Allow": "POST"})
        now = datetime.now(UTC)
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            payload = None
        messages, valid = validate(payload, now)
        if len(body) >= BODY_BYTES:
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
