"""TikTok Events API 2.0 (docs/destinations-meta-tiktok.md cites a source for every rule).

``POST {api_base_url}/open_api/v1.3/event/track/`` with the ``Access-Token`` header and a JSON
body ``{"event_source": "web", "event_source_id": <pixel code>, "test_event_code"?, "data":
[events]}``, at most 50 events a request (ours: TikTok's limit for this endpoint was not found;
50 is what partner integrations batch).

Guarantees:

- ``user.email``, ``user.phone`` and ``user.external_id`` leave only as SHA-256 digests;
  ``ip``, ``user_agent``, ``ttclid`` and ``ttp`` as they are. An anonymized event carries no
  ``user`` identifiers.
- Every event carries ``event_id``, TikTok's dedup key with the event name.
- The access token goes only into the ``Access-Token`` header and never into an outcome's
  error.
- TikTok answers HTTP 200 with a ``code``: 0 delivered; 40100 (rate limit) and 5xxxx (TikTok's
  internal errors) retry; any other code failed, with TikTok's message. No answer, 408, 429 and
  5xx retry (``Retry-After`` honoured).
"""

import re
from datetime import datetime, timedelta

from destinations.adapters.base import ItemOutcome, Outcome, OutgoingEvent, PlatformRequest
from destinations.adapters.common import (
    base_url_problem,
    batched_requests,
    event_time,
    hashes,
    json_object,
    merged_properties,
    one_or_many,
    page_fields,
    redact,
    retry_after_seconds,
    token_problem,
    too_old,
)

DEFAULT_BASE_URL = "https://business-api.tiktok.com"
TRACK_PATH = "/open_api/v1.3/event/track/"
MAX_BATCH = 50
MAX_AGE = timedelta(days=7)  # ours: TikTok's limit was not found (docs)

OK_CODES = frozenset({0, 20001})
RATE_LIMIT_CODE = 40100
# Contents in TrackLayer's mapping (Meta's names) → TikTok's names.
CONTENT_FIELDS = {
    "id": "content_id",
    "content_id": "content_id",
    "item_price": "price",
    "price": "price",
    "quantity": "quantity",
    "title": "content_name",
    "content_name": "content_name",
    "name": "content_name",
    "category": "content_category",
    "content_category": "content_category",
    "brand": "brand",
}

_PIXEL_CODE = re.compile(r"[A-Z0-9]{16,24}")
_TEST_CODE = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _contents(items) -> list[dict]:
    contents = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        content = {}
        for key, value in item.items():
            name = CONTENT_FIELDS.get(key)
            if name and value is not None and name not in content:
                content[name] = str(value) if name == "content_id" else value
        if content:
            contents.append(content)
    return contents


class TikTokEventsAdapter:
    type = "tiktok_events"
    max_batch = MAX_BATCH
    max_age = MAX_AGE
    secret_fields = ("access_token",)
    config_fields = ("pixel_code", "test_event_code", "api_base_url")
    spec = "tiktok"
    identifiers = (
        ("email", True),
        ("phone", True),
        ("external_id", True),
        ("ip", False),
        ("user_agent", False),
        ("ttclid", False),
        ("ttp", False),
    )

    def validate_config(self, config: dict, secrets: dict) -> dict[str, str]:
        problems = {}
        code = config.get("pixel_code")
        if not isinstance(code, str) or not _PIXEL_CODE.fullmatch(code):
            problems["pixel_code"] = (
                "Enter the pixel code from TikTok Events Manager: capital letters and digits, "
                "such as COQDA8RC77U2TMR44LI0."
            )
        test_code = config.get("test_event_code")
        if test_code not in (None, "") and (
            not isinstance(test_code, str) or not _TEST_CODE.fullmatch(test_code)
        ):
            problems["test_event_code"] = (
                "Enter the code from Events Manager → Test events (such as TEST12345), or "
                "leave it empty."
            )
        problem = base_url_problem(config.get("api_base_url"))
        if problem:
            problems["api_base_url"] = problem
        problem = token_problem(secrets.get("access_token"))
        if problem:
            problems["access_token"] = problem
        return problems

    def precheck(self, event: OutgoingEvent, now: datetime) -> str | None:
        """Why TikTok would refuse ``event``, or None (the engine dead-letters refusals)."""
        if not event.event_name.strip():
            return "TikTok requires an event name (event)."
        old = too_old(event, now, MAX_AGE)
        if old:
            return (
                f"TrackLayer does not send TikTok events more than 7 days old; this one is {old}."
            )
        return None

    def user(self, event: OutgoingEvent) -> dict:
        """TikTok's ``user`` object; empty for an anonymized event."""
        if event.anonymized:
            return {}
        ids = event.user_data or {}
        user: dict = {}
        email = hashes(ids.get("em"))
        if email:
            user["email"] = one_or_many(email)
        phone = hashes(ids.get("ph"))
        if phone:
            user["phone"] = one_or_many(phone)
        external = hashes(ids.get("external_id"))
        external += [h for h in hashes(event.external_id) if h not in external]
        if external:
            user["external_id"] = one_or_many(external)
        for name in ("ttclid", "ttp"):
            value = (event.click_ids or {}).get(name)
            if isinstance(value, str) and value.strip():
                user[name] = value.strip()
        if event.ip:
            user["ip"] = event.ip
        if event.user_agent:
            user["user_agent"] = event.user_agent
        return user

    def properties(self, event: OutgoingEvent) -> dict:
        data = merged_properties(event)
        if "contents" in data:
            contents = _contents(data["contents"])
            if contents:
                data["contents"] = contents
            else:
                del data["contents"]
        if "search_string" in data and "query" not in data:
            data["query"] = data.pop("search_string")
        if (data.get("contents") or data.get("content_ids")) and "content_type" not in data:
            data["content_type"] = "product"
        return data

    def event(self, event: OutgoingEvent, now: datetime) -> dict:
        """One element of ``data``."""
        payload = {
            "event": event.event_name,
            "event_time": event_time(event, now),
            "event_id": event.event_id or event.message_id,
            "user": self.user(event),
        }
        properties = self.properties(event)
        if properties:
            payload["properties"] = properties
        page = page_fields(event)
        if page:
            payload["page"] = page
        return payload

    def build(
        self, *, config: dict, secrets: dict, events: list[OutgoingEvent], now: datetime
    ) -> list[PlatformRequest]:
        base = (config.get("api_base_url") or DEFAULT_BASE_URL).rstrip("/")
        url = base + TRACK_PATH
        headers = {"Content-Type": "application/json", "Access-Token": secrets["access_token"]}
        test_code = (config.get("test_event_code") or "").strip()

        def body(chunk: list[OutgoingEvent]) -> dict:
            data: dict = {"event_source": "web", "event_source_id": config["pixel_code"]}
            if test_code:
                data["test_event_code"] = test_code
            data["data"] = [self.event(e, now) for e in chunk]
            return data

        return batched_requests(
            events,
            now=now,
            precheck=self.precheck,
            limit=MAX_BATCH,
            url=url,
            headers=headers,
            body=body,
        )

    def parse(
        self,
        *,
        request: PlatformRequest,
        status: int | None,
        body: bytes,
        headers: dict,
        error: str,
    ) -> list[ItemOutcome]:
        ids = request.delivery_ids
        secrets = [request.headers.get("Access-Token", "")]

        def every(outcome: Outcome, message: str = "", wait: float | None = None):
            text = redact(message, secrets) if message else ""
            return [ItemOutcome(d, outcome, text, wait) for d in ids]

        if status is None:
            return every(Outcome.RETRY, f"No answer from TikTok: {error or 'connection failed'}")
        answer = json_object(body)
        message = error_message(answer, status, body)
        wait = retry_after_seconds(headers)
        if status in (408, 429) or status >= 500:
            return every(Outcome.RETRY, message, wait)
        if not 200 <= status < 300:
            return every(Outcome.FAILED, message)
        code = answer.get("code") if answer else None
        if not isinstance(code, int) or isinstance(code, bool):
            # Not TikTok's envelope (a proxy's page?): send again; event_id dedups.
            return every(Outcome.RETRY, message)
        if code in OK_CODES:
            return every(Outcome.DELIVERED)
        if code == RATE_LIMIT_CODE or 50000 <= code < 60000:
            return every(Outcome.RETRY, message, wait)
        return every(Outcome.FAILED, message)


def error_message(answer: dict | None, status: int, body: bytes) -> str:
    """TikTok's answer as one line: message, code, request id."""
    if not answer or "code" not in answer:
        text = body.decode("utf-8", "replace").strip() if body else ""
        return f"HTTP {status}: {text}" if text else f"HTTP {status}"
    details = [f"code {answer.get('code')}"]
    if answer.get("request_id"):
        details.append(f"request_id {answer['request_id']}")
    return f"{answer.get('message') or 'TikTok refused the request'} ({', '.join(details)})"


ADAPTER = TikTokEventsAdapter()
