"""A local Meta Conversions API: ``POST /meta/v25.0/<pixel_id>/events?access_token=…``.

Written from Meta's published pages (listed below), importing nothing from the adapter it
checks (``destinations.adapters.meta``) or any other TrackLayer package: its limits, field lists
and error bodies are its own copies, so an adapter bug is refused here, not agreed with. It
answers with Graph API error bodies [M6]. Like Meta, it refuses the whole request when one event
is invalid ("If any event_time in data is greater than 7 days in the past, we return an error
for the entire request and process no events" [M2]):

- wrong method or path: Graph's ``code 100 / subcode 33`` or ``code 2500`` error;
- no access token: ``code 104``; a token that does not start with ``EAA``: ``code 190``;
- no ``data``, not a list, empty, or more than 1,000 events: ``code 100``;
- an event without ``event_name``, an integer ``event_time`` or a known ``action_source``;
  a website event without ``client_user_agent`` or ``event_source_url``; ``user_data``
  without customer information or with an unhashed ``em``/``ph``/… value: ``code 100``;
- an ``event_time`` more than 7 days old: ``code 100, error_subcode 2804003``;
- ``custom_data`` that is not an object, or a ``custom_data.contents`` item that is not an
  object, has no ``id`` or has a field Meta does not document (its documented fields: ``id``,
  ``quantity``, ``item_price``, ``delivery_category``): ``code 100``. The list is this
  module's own copy, not the adapter's: a stand-in that imported it would agree with any bug.

Accepted: ``{"events_received": n, "messages": [], "fbtrace_id": …}`` [M10], and the events are
recorded (``GET /__received/meta``). Control modes: ``error`` answers Graph's transient
``code 2`` body [M6] with the chosen status, ``rate_limit`` a 429 with ``Retry-After`` and the
throttling body (``code 17``, subcode 2446079 [M8]), ``timeout`` never answers in time.

Rules and where they come from (the same labels as docs/destinations-meta-tiktok.md):

- endpoint, ``access_token`` parameter, "up to 1,000 events" in ``data``, 7 days [M1]:
  https://developers.facebook.com/docs/marketing-api/conversions-api/using-the-api
- ``event_name``, ``event_time`` (Unix seconds), ``user_data`` and ``action_source`` required;
  the ``action_source`` values [M2]:
  https://developers.facebook.com/docs/marketing-api/conversions-api/parameters/server-event
- "Website events … require the client_user_agent, action_source, and event_source_url" [M3]:
  https://developers.facebook.com/docs/marketing-api/conversions-api/parameters/
- customer information: "at least one of the following user_data parameters", which are hashed
  (``em``, ``ph``, ``fn``, ``ln``, ``ge``, ``db``, ``ct``, ``st``, ``zp``, ``country``) [M4]:
  https://developers.facebook.com/docs/marketing-api/conversions-api/parameters/customer-information-parameters
- error bodies (``message``, ``type``, ``code``, ``error_subcode``, ``error_user_title``,
  ``error_user_msg``, ``fbtrace_id``; code 2 transient, 190 token) [M6]:
  https://developers.facebook.com/docs/graph-api/guides/error-handling
- throttling (code 17 / 2446079) [M8]: https://developers.facebook.com/docs/marketing-apis/rate-limiting
- the answer ``{events_received, messages, fbtrace_id}`` [M10]:
  https://developers.facebook.com/documentation/ads-commerce/marketing-api/reference/ads-pixel/events
- ``contents`` fields ``id``, ``quantity``, ``item_price``, ``delivery_category`` [M13]:
  https://developers.facebook.com/documentation/ads-commerce/conversions-api/parameters
- subcode 2804003 "Event Timestamp Too Old" and subcode 33, as Meta answers them in practice
  (RudderStack's recorded Graph answers) [R1]: https://github.com/rudderlabs/rudder-transformer

Ours (not Meta's published behaviour): codes 104 and 190 for a missing or non-``EAA`` token are
Graph's general token errors; the messages and titles of code 100 answers are this module's.
"""

import json
import re
import secrets
import time
from urllib.parse import parse_qs

from destinations.local_platforms.base import Behaviour, PlatformState, Reply, failure

MAX_EVENTS = 1000
MAX_AGE_SECONDS = 7 * 86400
ACTION_SOURCES = {
    "email",
    "website",
    "app",
    "phone_call",
    "chat",
    "physical_store",
    "system_generated",
    "business_messaging",
    "other",
}
HASHED = ("em", "ph", "fn", "ln", "ge", "db", "ct", "st", "zp", "country")
CUSTOMER_INFORMATION = (
    *HASHED,
    "external_id",
    "client_ip_address",
    "client_user_agent",
    "fbc",
    "fbp",
    "subscription_id",
    "fb_login_id",
    "lead_id",
    "anon_id",
    "madid",
    "page_id",
    "page_scoped_user_id",
    "ctwa_clid",
    "ig_account_id",
    "ig_sid",
)

CONTENT_FIELDS = frozenset({"id", "quantity", "item_price", "delivery_category"})

_PATH = re.compile(r"/(v[0-9]+\.[0-9]+)/([^/]+)/events/?")
_LOWER_HEX64 = re.compile(r"[0-9a-f]{64}")


def _trace_id() -> str:
    return "A" + secrets.token_urlsafe(16).replace("-", "x").replace("_", "y")[:22]


def graph_error(
    status: int,
    message: str,
    *,
    code: int,
    error_type: str = "OAuthException",
    subcode: int | None = None,
    title: str | None = None,
    user_message: str | None = None,
    transient: bool | None = None,
    **headers,
) -> Reply:
    error: dict = {"message": message, "type": error_type, "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    if transient is not None:
        error["is_transient"] = transient
    if title:
        error["error_user_title"] = title
    if user_message:
        error["error_user_msg"] = user_message
    error["fbtrace_id"] = _trace_id()
    return Reply.json(status, {"error": error}, **headers)


def invalid(user_message: str, *, title: str = "Invalid parameter", subcode=None) -> Reply:
    return graph_error(
        400, "Invalid parameter", code=100, subcode=subcode, title=title, user_message=user_message
    )


def _behaviour_reply(behaviour: Behaviour) -> Reply | None:
    if behaviour.mode == "error":
        return graph_error(
            behaviour.status,
            "An unexpected error has occurred. Please retry your request later.",
            code=2,
            transient=True,
        )
    if behaviour.mode == "rate_limit":
        return graph_error(
            429,
            "(#17) User request limit reached",
            code=17,
            subcode=2446079,
            transient=True,
            **{"Retry-After": str(behaviour.retry_after)},
        )
    return failure(behaviour, "meta")  # timeout (or None: answer normally)


def _parameters(query: dict, headers: dict, body: bytes) -> dict | Reply:
    """The request's parameters: the query string, then a JSON or form-encoded body."""
    params = dict(query)
    if not body:
        return params
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if content_type == "application/x-www-form-urlencoded":
            form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8")).items()}
            if "data" in form:
                form["data"] = json.loads(form["data"])
            params.update(form)
        else:
            parsed = json.loads(body)
            if not isinstance(parsed, dict):
                return invalid("The request body must be a JSON object.")
            params.update(parsed)
    except (UnicodeDecodeError, ValueError):
        return invalid("The request body is not valid JSON.")
    return params


def _values(value) -> list:
    return value if isinstance(value, list) else [value]


def _event_problem(index: int, event, now: float) -> Reply | None:
    where = f"data[{index}]"
    if not isinstance(event, dict):
        return invalid(f"{where} must be an object.")
    name = event.get("event_name")
    if not isinstance(name, str) or not name.strip():
        return invalid(f"The parameter event_name is required ({where}).")
    moment = event.get("event_time")
    if isinstance(moment, bool) or not isinstance(moment, int):
        return invalid(f"The parameter event_time is required, as a Unix timestamp ({where}).")
    if now - moment > MAX_AGE_SECONDS:
        return invalid(
            "The timestamp for this event is too far in the past. Events need to be sent from "
            "your server within 7 days of when they occurred. Enter a timestamp that has "
            f"occurred within the last seven days ({where}).",
            title="Event Timestamp Too Old",
            subcode=2804003,
        )
    source = event.get("action_source")
    if source not in ACTION_SOURCES:
        return invalid(f"The parameter action_source is required and must be valid ({where}).")
    user_data = event.get("user_data")
    if not isinstance(user_data, dict) or not any(
        user_data.get(k) not in (None, "", []) for k in CUSTOMER_INFORMATION
    ):
        return invalid(
            f"The parameter user_data must contain customer information parameters ({where}).",
            title="Missing customer information",
        )
    for field in HASHED:
        for value in _values(user_data.get(field)) if field in user_data else ():
            if not isinstance(value, str) or not _LOWER_HEX64.fullmatch(value):
                return invalid(
                    f"user_data.{field} must be hashed with SHA-256 (64 lowercase hexadecimal "
                    f"characters) ({where}).",
                    title="Unhashed customer information",
                )
    if source == "website":
        if not user_data.get("client_user_agent"):
            return invalid(f"Website events require client_user_agent ({where}).")
        if not event.get("event_source_url"):
            return invalid(f"Website events require event_source_url ({where}).")
    return _custom_data_problem(where, event.get("custom_data"))


def _custom_data_problem(where: str, custom_data) -> Reply | None:
    if custom_data is None:
        return None
    if not isinstance(custom_data, dict):
        return invalid(f"custom_data must be an object ({where}).")
    contents = custom_data.get("contents")
    if contents is None:
        return None
    if not isinstance(contents, list):
        return invalid(f"custom_data.contents must be a list of objects ({where}).")
    for position, item in enumerate(contents):
        at = f"custom_data.contents[{position}]"
        if not isinstance(item, dict) or item.get("id") in (None, ""):
            return invalid(f"Each item of custom_data.contents needs an id ({where}, {at}).")
        unknown = sorted(set(item) - CONTENT_FIELDS)
        if unknown:
            return invalid(
                f"{at} has fields Meta does not take: {', '.join(unknown)}; the fields are id, "
                f"quantity, item_price and delivery_category ({where}).",
                title="Invalid contents",
            )
    return None


class MetaPlatform:
    name = "meta"

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
        reply = _behaviour_reply(state.take_behaviour())
        if reply is not None:
            return reply
        match = _PATH.fullmatch(path)
        if match is None:
            return graph_error(400, f"Unknown path components: {path}", code=2500)
        pixel_id = match.group(2)
        if method != "POST" or not pixel_id.isdigit():
            return graph_error(
                400,
                f"Unsupported {method.lower()} request. Object with ID '{pixel_id}' does not "
                "exist, cannot be loaded due to missing permissions, or does not support this "
                "operation.",
                code=100,
                subcode=33,
                error_type="GraphMethodException",
            )
        params = _parameters(query, headers, body)
        if isinstance(params, Reply):
            return params
        token = params.get("access_token")
        if not token:
            return graph_error(
                400, "An access token is required to request this resource.", code=104
            )
        if not isinstance(token, str) or not token.startswith("EAA"):
            return graph_error(
                400, "Invalid OAuth access token - Cannot parse access token", code=190
            )
        events = params.get("data")
        if not isinstance(events, list) or not events:
            return graph_error(400, "(#100) The parameter data is required", code=100)
        if len(events) > MAX_EVENTS:
            return invalid(
                f"You can send up to {MAX_EVENTS} events in data; this request has {len(events)}.",
                title="Too many events",
            )
        now = time.time()
        for index, event in enumerate(events):
            problem = _event_problem(index, event, now)
            if problem is not None:
                return problem
        test_code = params.get("test_event_code")
        state.accept(
            [{**event, "pixel_id": pixel_id, "test_event_code": test_code} for event in events]
        )
        return Reply.json(
            200, {"events_received": len(events), "messages": [], "fbtrace_id": _trace_id()}
        )


PLATFORM = MetaPlatform()
