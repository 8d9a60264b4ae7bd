"""Meta Conversions API (docs/destinations-meta-tiktok.md cites a source for every rule).

``POST {api_base_url}/v25.0/{pixel_id}/events?access_token=…`` with a JSON body
``{"data": [server events], "test_event_code"?}``, at most 1,000 events a request.

Guarantees:

- Only SHA-256 digests leave for the hashed customer fields (``em``, ``ph``, ``fn`` … and
  ``external_id``); ``client_ip_address``, ``client_user_agent``, ``fbc`` and ``fbp`` go as they
  are. An anonymized event carries no customer information at all.
- Meta refuses the whole request when one event is invalid (too old, no customer
  information …). ``precheck`` names every such reason; the engine dead-letters those events
  instead of sending them, and ``build`` puts any it is given anyway into a request of its own,
  so a refused event never takes a batch down with it.
- Every event carries ``event_id`` (with ``event_name``, Meta's dedup key), so a resend after a
  timeout or a crash is counted once.
- The access token goes only into the URL's ``access_token`` parameter, as Meta documents, and
  never into an outcome's error: errors are scrubbed of it and of anything token-shaped.
- 2xx with every event acknowledged: delivered. No answer, 408, 429, 5xx, Meta's throttling and
  temporary error codes: retry (``Retry-After`` honoured). Any other refusal: failed, with
  Meta's message.
"""

import re
from datetime import datetime, timedelta
from urllib.parse import parse_qs, quote, urlsplit

from destinations.adapters.base import ItemOutcome, Outcome, OutgoingEvent, PlatformRequest
from destinations.adapters.common import (
    base_url_problem,
    batched_requests,
    event_time,
    has_hash,
    hashes,
    json_object,
    merged_properties,
    one_or_many,
    redact,
    retry_after_seconds,
    token_problem,
    too_old,
)

API_VERSION = "v25.0"
DEFAULT_BASE_URL = "https://graph.facebook.com"
MAX_BATCH = 1000
MAX_AGE = timedelta(days=7)

# Customer information parameters Meta wants SHA-256 hashed (external_id: "recommended";
# TrackLayer always sends it hashed).
HASHED_FIELDS = ("em", "ph", "fn", "ln", "ge", "db", "ct", "st", "zp", "country", "external_id")
ACTION_SOURCES = frozenset(
    {
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
)
# Graph API codes that mean "wait and try again": 1 unknown (possibly downtime), 2 service
# down, 4 app throttled, 17 user throttled, 32 page throttled, 341 application limit, 613
# custom rate limit; 80000–80014 business-use-case rate limits.
RETRY_CODES = frozenset({1, 2, 4, 17, 32, 341, 613}) | frozenset(range(80000, 80015))
# The fields of a custom_data.contents item, as Meta's standard parameters list them
# ("Available fields: id, quantity, item_price, delivery_category"); anything else (a product's
# name) is not sent.
CONTENT_FIELDS = ("id", "quantity", "item_price", "delivery_category")
# Segment's e-commerce product fields on a one-product event (Product Viewed, Product Added …)
# under the custom_data names Meta documents for them.
PRODUCT_FIELDS = {"name": "content_name", "category": "content_category"}

_PIXEL_ID = re.compile(r"[0-9]{5,20}")
_TEST_CODE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TOKEN_PARAMETER = re.compile(r"[?&]access_token=([^&#]*)")


# --- the adapter -------------------------------------------------------------------------------


class MetaConversionsAdapter:
    type = "meta_capi"
    max_batch = MAX_BATCH
    max_age = MAX_AGE
    secret_fields = ("access_token",)
    config_fields = ("pixel_id", "test_event_code", "api_base_url")
    spec = "meta"
    identifiers = (
        *((name, True) for name in HASHED_FIELDS),
        *((name, False) for name in ("client_ip_address", "client_user_agent", "fbc", "fbp")),
    )

    def validate_config(self, config: dict, secrets: dict) -> dict[str, str]:
        problems = {}
        pixel_id = config.get("pixel_id")
        if not isinstance(pixel_id, str) or not _PIXEL_ID.fullmatch(pixel_id):
            problems["pixel_id"] = (
                "Enter the pixel (dataset) id from Events Manager: digits only, such as "
                "1234567890123456."
            )
        code = config.get("test_event_code")
        if code not in (None, "") and (not isinstance(code, str) or not _TEST_CODE.fullmatch(code)):
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

    def user_data(self, event: OutgoingEvent) -> dict:
        """Customer information as Meta takes it; empty for an anonymized event."""
        if event.anonymized:
            return {}
        data: dict = {}
        given = event.user_data or {}
        for name in HASHED_FIELDS:  # in Meta's order; only the fields this event has
            if name not in given and (name != "external_id" or not event.external_id):
                continue
            values = hashes(given.get(name))
            if name == "external_id":
                values += [h for h in hashes(event.external_id) if h not in values]
            if values:
                data[name] = one_or_many(values)
        if event.ip:
            data["client_ip_address"] = event.ip
        if event.user_agent:
            data["client_user_agent"] = event.user_agent
        for name in ("fbc", "fbp"):
            value = (event.click_ids or {}).get(name)
            if isinstance(value, str) and value.strip():
                data[name] = value.strip()
        return data

    def precheck(self, event: OutgoingEvent, now: datetime) -> str | None:
        """Why Meta would refuse ``event`` — and with it every event of its request — or None.
        The engine dead-letters an event with this reason instead of sending it."""
        if not event.event_name.strip():
            return "Meta requires an event name (event_name)."
        old = too_old(event, now, MAX_AGE)
        if old:
            return f"Meta refuses events more than 7 days old (event_time); this one is {old}."
        source = event.action_source or "website"
        if source not in ACTION_SOURCES:
            return f"Meta does not accept the action_source {source!r}."
        if source == "app":
            return (
                "Meta requires app_data (advertiser_tracking_enabled, extinfo) for app events, "
                "which TrackLayer does not collect."
            )
        if event.anonymized:
            return (
                "Consent allowed this event only without identifiers, and Meta accepts no event "
                "without customer information (user_data)."
            )
        # What user_data would hold of what matters here, without hashing the rest (the
        # engine prechecks every event, build again: user_data is built once, in build).
        given = event.user_data or {}
        clicks = event.click_ids or {}
        matchable = (
            has_hash(given.get("em"))
            or has_hash(given.get("ph"))
            or has_hash(given.get("external_id"))
            or has_hash(event.external_id)
            or any(isinstance(clicks.get(k), str) and clicks[k].strip() for k in ("fbc", "fbp"))
        )
        if not matchable and not (event.ip and event.user_agent):
            return (
                "Meta needs customer information it can match on: an e-mail, phone, external "
                "id, fbc or fbp, or the IP address together with the user agent."
            )
        if source == "website" and not event.user_agent:
            return "Meta requires client_user_agent for website events; this event has none."
        if source == "website" and not event.page_url:
            return "Meta requires event_source_url (the page URL) for website events."
        return None

    def custom_data(self, event: OutgoingEvent) -> dict:
        """Custom properties and mapped commerce fields, with Segment's product ``name`` and
        ``category`` as ``content_name`` and ``content_category`` (unless the destination
        mapped those itself) and ``contents`` items reduced to Meta's documented fields."""
        data = merged_properties(event)
        for source, target in PRODUCT_FIELDS.items():
            value = data.pop(source, None)
            if target not in data and isinstance(value, str) and value.strip():
                data[target] = value
        if "contents" in data:
            contents = _contents(data["contents"])
            if contents:
                data["contents"] = contents
            else:
                del data["contents"]
        return data

    def server_event(self, event: OutgoingEvent, now: datetime) -> dict:
        """One element of ``data``."""
        payload = {
            "event_name": event.event_name,
            "event_time": event_time(event, now),
            "event_id": event.event_id or event.message_id,
            "action_source": event.action_source or "website",
            "user_data": self.user_data(event),
        }
        if event.page_url:
            payload["event_source_url"] = event.page_url
        custom = self.custom_data(event)
        if custom:
            payload["custom_data"] = custom
        return payload

    def build(
        self, *, config: dict, secrets: dict, events: list[OutgoingEvent], now: datetime
    ) -> list[PlatformRequest]:
        base = (config.get("api_base_url") or DEFAULT_BASE_URL).rstrip("/")
        pixel = quote(str(config["pixel_id"]), safe="")
        token = quote(secrets["access_token"], safe="")
        url = f"{base}/{API_VERSION}/{pixel}/events?access_token={token}"
        test_code = (config.get("test_event_code") or "").strip()

        def body(chunk: list[OutgoingEvent]) -> dict:
            data: dict = {"data": [self.server_event(e, now) for e in chunk]}
            if test_code:
                data["test_event_code"] = test_code
            return data

        return batched_requests(
            events,
            now=now,
            precheck=self.precheck,
            limit=MAX_BATCH,
            url=url,
            headers={"Content-Type": "application/json"},
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
        # The token as sent (URL-quoted) and as it reads unquoted: an error may hold either.
        secrets = _TOKEN_PARAMETER.findall(request.url)
        secrets += parse_qs(urlsplit(request.url).query).get("access_token", [])

        def every(outcome: Outcome, message: str = "", wait: float | None = None):
            text = redact(message, secrets) if message else ""
            return [ItemOutcome(d, outcome, text, wait) for d in ids]

        if status is None:
            return every(Outcome.RETRY, f"No answer from Meta: {error or 'connection failed'}")
        answer = json_object(body)
        if 200 <= status < 300:
            received = answer.get("events_received") if answer else None
            if received == len(ids):
                return every(Outcome.DELIVERED)
            # Meta answers all or nothing; an unexpected count (or a body that is not Meta's,
            # from a proxy) is sent again — event_id makes Meta count a resent event once.
            return every(
                Outcome.RETRY,
                f"HTTP {status}: Meta acknowledged {received!r} of {len(ids)} events",
            )
        failure = answer.get("error") if answer else None
        message = error_message(failure, status, body)
        wait = retry_after_seconds(headers)
        if status in (408, 429) or status >= 500:
            return every(Outcome.RETRY, message, wait)
        if isinstance(failure, dict) and (
            failure.get("is_transient") is True or failure.get("code") in RETRY_CODES
        ):
            return every(Outcome.RETRY, message, wait)
        return every(Outcome.FAILED, message)


def _contents(items) -> list[dict]:
    """``contents`` items with only Meta's documented fields; an item without an id (which
    Meta requires) is left out."""
    contents = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and item.get("id") not in (None, ""):
            contents.append({k: item[k] for k in CONTENT_FIELDS if item.get(k) is not None})
    return contents


def error_message(failure, status: int, body: bytes) -> str:
    """Meta's error body as one line: message, user title and message, codes, trace id."""
    if not isinstance(failure, dict):
        text = body.decode("utf-8", "replace").strip() if body else ""
        return f"HTTP {status}: {text}" if text else f"HTTP {status}"
    parts = [str(failure.get("message") or "Meta refused the request")]
    for key in ("error_user_title", "error_user_msg"):
        if failure.get(key):
            parts.append(str(failure[key]))
    codes = [f"HTTP {status}"]
    if failure.get("code") is not None:
        codes.append(f"code {failure['code']}")
    if failure.get("error_subcode") is not None:
        codes.append(f"subcode {failure['error_subcode']}")
    if failure.get("fbtrace_id"):
        codes.append(f"fbtrace_id {failure['fbtrace_id']}")
    return " — ".join(parts) + f" ({', '.join(codes)})"


ADAPTER = MetaConversionsAdapter()
