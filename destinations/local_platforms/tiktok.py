"""A local TikTok Events API 2.0: ``POST /tiktok/open_api/v1.3/event/track/``.

Written from TikTok's published template and sample request and from partner documentation
(TikTok's own parameter pages were not readable; sources below), importing nothing from the
adapter it checks (``destinations.adapters.tiktok``) or any other TrackLayer package.
TikTok's business API answers HTTP 200 with a ``code`` (0 is success) [T4, T5] and refuses the
whole request when something is wrong:

- wrong path: HTTP 404; wrong method: HTTP 405 (both with TikTok's envelope);
- no ``Access-Token`` header, or the token ``invalid``: ``code 40105``;
- not JSON, ``event_source`` not one TikTok knows, no ``event_source_id``, no ``data`` or more
  than 50 events (TrackLayer's assumption, see the docs): ``code 40002``;
- an event without ``event`` or an integer ``event_time``, more than 7 days old (also an
  assumption), or an ``email``/``phone``/``external_id`` that is not 64 lowercase hex digits:
  ``code 40002``.

Accepted: ``{"code": 0, "message": "OK", "request_id": …, "data": {}}``; the events are
recorded (``GET /__received/tiktok``). Control modes: ``error`` answers TikTok's internal
error (``code 50000``) with the chosen HTTP status, ``rate_limit`` a 429 with ``Retry-After``
and ``code 40100``, ``timeout`` never answers in time.

Sources (the same labels as docs/destinations-meta-tiktok.md):

- [T1] TikTok's server-side GTM template for the Events API (endpoint, ``Access-Token`` header,
  ``event_source``/``event_source_id``/``data``, hashed ``email``/``phone``/``external_id``):
  https://github.com/tiktok/gtm-template-eapi
- [T2] TikTok's Events Manager sample request for ``/open_api/v1.3/event/track/`` ("must be
  hashed with SHA-256", ``event_time`` "Use unix timestamp"), as published at
  https://cozyclimb.store
- [T4] RudderStack's TikTok handler (codes 0 and 20001 success, 40100 throttled, 40002
  aborted): https://github.com/rudderlabs/rudder-transformer
- [T5] TikTok API for Business return codes (40001, 40002, 40100, 40105), via
  https://help.sleekflow.io/en_US/tiktok-business-messaging/troubleshooting-your-tiktok-business-messaging-channels
- [T6] Tealium's Events 2.0 connector (at most 50 events a request):
  https://docs.tealium.com/server-side-connectors/tiktok-events-connector/

Ours: the 50-event batch (a partner's limit, not TikTok's published one), the 7-day age limit
(TikTok's was not found), the ``event_source`` values ``web``/``app``/``offline``/``crm`` (from
Tealium's "report App, Web, Offline, or CRM events" [T6]), and the messages.
"""

import json
import re
import secrets
import time

from destinations.local_platforms.base import Behaviour, PlatformState, Reply, failure

TRACK_PATH = "/open_api/v1.3/event/track/"
MAX_EVENTS = 50
MAX_AGE_SECONDS = 7 * 86400
EVENT_SOURCES = {"web", "app", "offline", "crm"}
HASHED = ("email", "phone", "external_id")
REVOKED_TOKENS = frozenset({"invalid"})  # the one token this stand-in refuses

_LOWER_HEX64 = re.compile(r"[0-9a-f]{64}")


def _request_id() -> str:
    return time.strftime("%Y%m%d%H%M%S", time.gmtime()) + secrets.token_hex(10).upper()


def answer(code: int, message: str, *, status: int = 200, **headers) -> Reply:
    return Reply.json(
        status,
        {"code": code, "message": message, "request_id": _request_id(), "data": {}},
        **headers,
    )


def invalid(message: str) -> Reply:
    return answer(40002, message)


def _behaviour_reply(behaviour: Behaviour) -> Reply | None:
    if behaviour.mode == "error":
        return answer(50000, "Internal service error. Please retry.", status=behaviour.status)
    if behaviour.mode == "rate_limit":
        return answer(
            40100,
            "Too many requests. Please retry after a while.",
            status=429,
            **{"Retry-After": str(behaviour.retry_after)},
        )
    return failure(behaviour, "tiktok")  # timeout (or None: answer normally)


def _event_problem(index: int, event, now: float) -> Reply | None:
    where = f"data[{index}]"
    if not isinstance(event, dict):
        return invalid(f"{where}: must be an object.")
    name = event.get("event")
    if not isinstance(name, str) or not name.strip():
        return invalid(f"{where}.event: this field is required.")
    moment = event.get("event_time")
    if isinstance(moment, bool) or not isinstance(moment, int):
        return invalid(f"{where}.event_time: this field is required, as a Unix timestamp.")
    if now - moment > MAX_AGE_SECONDS:
        return invalid(f"{where}.event_time: the event is more than 7 days old.")
    user = event.get("user", {})
    if not isinstance(user, dict):
        return invalid(f"{where}.user: must be an object.")
    for field in HASHED:
        if field not in user:
            continue
        values = user[field] if isinstance(user[field], list) else [user[field]]
        for value in values:
            if not isinstance(value, str) or not _LOWER_HEX64.fullmatch(value):
                return invalid(
                    f"{where}.user.{field}: must be hashed with SHA-256 (64 lowercase "
                    "hexadecimal characters)."
                )
    return None


class TikTokPlatform:
    name = "tiktok"

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
        if path.rstrip("/") != TRACK_PATH.rstrip("/"):
            return answer(40400, f"Not found: {path}", status=404)
        if method != "POST":
            return answer(40500, f"Method {method} is not allowed.", status=405)
        token = headers.get("access-token", "").strip()
        if not token:
            return answer(40105, "Access token is null. Please provide an Access-Token header.")
        if token in REVOKED_TOKENS:
            return answer(40105, "Access token is incorrect or has been revoked.")
        try:
            params = json.loads(body or b"null")
        except ValueError:
            return invalid("The request body is not valid JSON.")
        if not isinstance(params, dict):
            return invalid("The request body must be a JSON object.")
        if params.get("event_source") not in EVENT_SOURCES:
            return invalid("event_source: must be one of web, app, offline, crm.")
        source_id = params.get("event_source_id")
        if not isinstance(source_id, str) or not source_id.strip():
            return invalid("event_source_id: this field is required.")
        events = params.get("data")
        if not isinstance(events, list) or not events:
            return invalid("data: this field is required.")
        if len(events) > MAX_EVENTS:
            return invalid(f"data: at most {MAX_EVENTS} events per request, got {len(events)}.")
        now = time.time()
        for index, event in enumerate(events):
            problem = _event_problem(index, event, now)
            if problem is not None:
                return problem
        state.accept(
            [
                {
                    **event,
                    "event_source": params["event_source"],
                    "event_source_id": source_id,
                    "test_event_code": params.get("test_event_code"),
                }
                for event in events
            ]
        )
        return answer(0, "OK")


PLATFORM = TikTokPlatform()
