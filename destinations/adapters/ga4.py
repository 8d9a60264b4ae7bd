"""GA4 Measurement Protocol (web streams): ``POST /mp/collect?measurement_id=…&api_secret=…``.

docs/destinations-ga4-webhook.md has every rule with its source. In short:

- One request carries the events of one client: ``client_id``, ``user_id``, ``user_data``,
  ``consent``, ``ip_override`` and ``user_agent`` belong to the request, not to an event. So
  events are grouped by those fields, then split at 25 events and under 130 kB.
- ``client_id`` is never a personal value: the GA tag's own client id when the engine passes it
  (``click_ids["ga_client_id"]``, "two positive numbers joined by a period"), otherwise two
  numbers derived from SHA-256 of the measurement id and the event's ``anonymous_id`` (else the
  hashed ``external_id``, else the message id — so an anonymized event is linked to nothing).
- ``user_id`` is the hashed external id; ``user_data`` carries only SHA-256 hex values
  (e-mail, phone, first and last name); Google wants city, region, postal code and country in
  clear and TrackLayer keeps only their hashes, so those are not sent. An anonymized event has
  neither, and its consent is sent as DENIED.
- Event names become GA4 names (Segment's e-commerce names → GA4's recommended events,
  otherwise snake_case); ``precheck`` refuses names GA4 would refuse, identify/group/alias
  calls, screen views (app streams only) and events older than 72 hours (GA4 would record them
  as 72 hours old).
- The real endpoint answers 2xx even for a payload it drops; only ``/debug/mp/collect``
  validates. A 2xx is "delivered"; a 2xx carrying ``validationMessages`` marks the events they
  name failed.
"""

import base64
import hashlib
import json
import math
import re
from datetime import datetime, timedelta
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from destinations.adapters.base import ItemOutcome, Outcome, OutgoingEvent, PlatformRequest
from destinations.adapters.common import (
    outcome_for_status,
    retry_after_seconds,
    short_error,
    url_problem,
    url_without_query,
)
from privacy.pii import is_sha256_hex

DEFAULT_BASE_URL = "https://www.google-analytics.com"
COLLECT_PATH = "/mp/collect"
MAX_EVENTS = 25  # "Requests can have a maximum of 25 events."
MAX_PARAMS = 25  # "Events can have a maximum of 25 parameters."
MAX_NAME = 40  # event and parameter names
MAX_VALUE = 100  # parameter values, standard (non-360) property
# The parameters Google lets run longer ("Event collection limits"): URLs keep their query
# (UTM tags) up to these lengths instead of being cut at 100.
MAX_URL_VALUE = {"page_location": 1000, "page_referrer": 420}
MAX_BODY = 130_000  # "The post body must be smaller than 130kB."
MAX_AGE = timedelta(hours=72)  # "Events … can be backdated up to 72 hours."
# Refused a little before 72 h, so that an event that passes precheck is still under 72 h
# when Google receives it.
AGE_MARGIN = timedelta(minutes=5)
MAX_USER_ID = 256
MAX_ITEMS = 200

# The Measurement Protocol reference, "Reserved names".
RESERVED_EVENT_NAMES = frozenset(
    {
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
    }
)
APP_ONLY_EVENT_NAMES = frozenset({"ad_impression", "in_app_purchase", "screen_view"})
RESERVED_PREFIXES = ("_", "firebase_", "ga_", "google_", "gtag.")
RESERVED_PARAM_NAMES = frozenset({"firebase_conversion"})

# Segment's e-commerce and lifecycle spec → GA4's recommended events, which GA4's reports
# (revenue, funnels) understand. Any other name is only made snake_case.
RECOMMENDED_EVENTS = {
    "Order Completed": "purchase",
    "Order Refunded": "refund",
    "Product Added": "add_to_cart",
    "Product Removed": "remove_from_cart",
    "Cart Viewed": "view_cart",
    "Checkout Started": "begin_checkout",
    "Payment Info Entered": "add_payment_info",
    "Product Viewed": "view_item",
    "Product List Viewed": "view_item_list",
    "Product Clicked": "select_item",
    "Product Added to Wishlist": "add_to_wishlist",
    "Products Searched": "search",
    "Promotion Viewed": "view_promotion",
    "Promotion Clicked": "select_promotion",
    "Signed Up": "sign_up",
    "Signed In": "login",
}

# Properties already sent as GA4's own parameters, or that look like personal data, which
# Google's policies forbid in parameters: never copied as custom parameters.
MAPPED_PARAMS = frozenset(
    {"order_id", "products", "currency", "value", "transaction_id", "items", "event_id"}
    | {"page_location", "page_referrer"}
)
PERSONAL_PARAMS = frozenset(
    {
        "email",
        "e_mail",
        "email_address",
        "phone",
        "phone_number",
        "mobile",
        "first_name",
        "last_name",
        "full_name",
        "address",
        "street",
        "street_address",
        "birthday",
        "date_of_birth",
        "dob",
        "ip",
        "ip_address",
        "user_id",
        "userid",
        "anonymous_id",
        "password",
    }
)
KEY_HELP = (
    "Enter a Measurement Protocol API secret (Admin > Data streams > your stream > "
    "Measurement Protocol API secrets)."
)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_MEASUREMENT_ID = re.compile(r"G-[A-Z0-9]{4,20}")
_GA_CLIENT_ID = re.compile(r"[1-9][0-9]{0,19}\.[1-9][0-9]{0,19}")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NOT_WORD = re.compile(r"\W+")
_INDEX = re.compile(r"events\[(\d+)\]|index: \[(\d+)\]")


# --- names --------------------------------------------------------------------------------------


def ga4_name(text: str) -> str:
    """``"Button Clicked"``/``"buttonClicked"`` → ``"button_clicked"``: GA4 names are
    snake_case by convention. Not a validation: ``name_problem`` says whether GA4 takes it."""
    text = _CAMEL.sub("_", text.strip())
    return _NOT_WORD.sub("_", text).strip("_").lower()


def event_name(event: OutgoingEvent) -> str:
    """The name GA4 receives for ``event``."""
    if event.event_type == "page":
        return "page_view"
    if event.event_type == "screen":
        return "screen_view"
    return RECOMMENDED_EVENTS.get(event.event_name.strip()) or ga4_name(event.event_name)


def _name_shape_problem(name: str, what: str) -> str | None:
    if not name:
        return f"The {what} name is empty."
    if len(name) > MAX_NAME:
        return f"The {what} name {name!r} is longer than {MAX_NAME} characters."
    if not name[0].isalpha():
        return f"The {what} name {name!r} must start with a letter."
    if not all(c.isalnum() or c == "_" for c in name):
        return f"The {what} name {name!r} may only hold letters, digits and underscores."
    return None


def name_problem(name: str) -> tuple[str, str] | None:
    """(code, message) when GA4 refuses ``name`` as a web stream's event name."""
    problem = _name_shape_problem(name, "event")
    if problem:
        return "event_name_invalid", problem
    if name in RESERVED_EVENT_NAMES or name.startswith(RESERVED_PREFIXES):
        return "event_name_reserved", f"GA4 reserves the event name {name!r}."
    if name in APP_ONLY_EVENT_NAMES:
        return "event_name_app_only", f"GA4 takes {name!r} from app streams only."
    return None


def param_name_ok(name: str) -> bool:
    return (
        _name_shape_problem(name, "parameter") is None
        and name not in RESERVED_PARAM_NAMES
        and not name.startswith(RESERVED_PREFIXES)
    )


# --- values -------------------------------------------------------------------------------------


def _text(value: object) -> str:
    return str(value)[:MAX_VALUE]


def _number(value: object) -> float | int | None:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if math.isfinite(value) else None


def _scalar(value: object) -> str | int | float | None:
    """A custom parameter value GA4 takes (text at most 100 characters), None to drop it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        if not value or _EMAIL.search(value):
            return None  # personal data has no place in GA4 parameters
        return value[:MAX_VALUE]
    return None


def _page_url(url: str, anonymized: bool, limit: int) -> str | None:
    """The URL GA4 may receive: Google wants URLs "free of PII". An anonymized event's URL
    loses its query (click ids, tokens), and so does any URL with an e-mail address in it;
    one that still holds an address after that is not sent."""
    if anonymized or _EMAIL.search(unquote(url)):
        url = url_without_query(url)
    if _EMAIL.search(unquote(url)):
        return None
    return url[:limit]


def _item(product: dict) -> dict | None:
    item: dict = {}
    item_id = product.get("product_id") or product.get("sku") or product.get("id")
    if item_id not in (None, ""):
        item["item_id"] = _text(item_id)
    name = product.get("name") or product.get("title")
    if name not in (None, ""):
        item["item_name"] = _text(name)
    if not item:
        return None  # "One of item_id or item_name is required."
    price = _number(product.get("price", product.get("item_price")))
    if price is not None:
        item["price"] = price
    quantity = _number(product.get("quantity"))
    if quantity is not None:
        item["quantity"] = int(quantity) if float(quantity).is_integer() else quantity
    for source, target in (
        ("category", "item_category"),
        ("brand", "item_brand"),
        ("variant", "item_variant"),
        ("coupon", "coupon"),
    ):
        if product.get(source) not in (None, ""):
            item[target] = _text(product[source])
    return item


def _items(event: OutgoingEvent) -> list[dict]:
    properties = event.properties or {}
    products = properties.get("products")
    if isinstance(products, list):
        sources = products
    elif properties.get("product_id") or properties.get("sku"):
        sources = [properties]  # a single-product event (Product Viewed, Product Added)
    else:
        sources = (event.custom_data or {}).get("contents") or []
    items = []
    for product in sources[:MAX_ITEMS]:
        if isinstance(product, dict) and (item := _item(product)):
            items.append(item)
    return items


def event_params(event: OutgoingEvent) -> dict:
    """The event's ``params``: GA4's e-commerce parameters first, then page, then the other
    properties as custom parameters (snake_case names, scalar values), at most 25."""
    params: dict = {}
    custom = event.custom_data or {}
    properties = event.properties or {}
    order_id = custom.get("order_id") or properties.get("order_id") or properties.get("orderId")
    if order_id not in (None, ""):
        params["transaction_id"] = _text(order_id)
    value = _number(custom.get("value"))
    if value is not None:
        params["value"] = value
    currency = custom.get("currency") or properties.get("currency")
    if isinstance(currency, str) and len(currency.strip()) == 3 and currency.strip().isalpha():
        params["currency"] = currency.strip().upper()
    items = _items(event)
    if items:
        params["items"] = items
    for name, url in (("page_location", event.page_url), ("page_referrer", event.referrer)):
        if url and (safe := _page_url(url, event.anonymized, MAX_URL_VALUE[name])):
            params[name] = safe
    for key, raw in properties.items():
        if len(params) >= MAX_PARAMS:
            break
        name = ga4_name(str(key))
        if name in params or name in MAPPED_PARAMS or name in PERSONAL_PARAMS:
            continue
        if not param_name_ok(name):
            continue
        value = _scalar(raw)
        if value is not None:
            params[name] = value
    return params


def _micros(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def event_entry(event: OutgoingEvent, now: datetime) -> dict:
    """One element of ``events[]``: name, params and the event's own ``timestamp_micros``
    (never later than ``now``: a clock ahead of ours is not a reason to lose the event)."""
    return {
        "name": event_name(event),
        "params": event_params(event),
        "timestamp_micros": _micros(min(event.timestamp, now)),
    }


# --- request-level fields -----------------------------------------------------------------------


def client_id_for(event: OutgoingEvent, measurement_id: str) -> str:
    """GA4's ``client_id``: the tag's own when the engine has it, else derived (see module)."""
    tag_client_id = (event.click_ids or {}).get("ga_client_id")
    tag_shaped = isinstance(tag_client_id, str) and _GA_CLIENT_ID.fullmatch(tag_client_id)
    if tag_shaped and not event.anonymized:
        return tag_client_id
    if event.anonymized:
        key = f"message:{event.message_id}"
    elif event.anonymous_id:
        key = f"anonymous:{event.anonymous_id}"
    elif event.external_id:
        key = f"external:{event.external_id}"
    else:
        key = f"message:{event.message_id}"
    # Scoped to the measurement id: two properties cannot join their visitors on it.
    digest = hashlib.sha256(f"tracklayer-ga4\x00{measurement_id}\x00{key}".encode()).digest()
    first = int.from_bytes(digest[:4], "big") % 2_147_483_647 + 1
    second = 1_000_000_000 + int.from_bytes(digest[4:8], "big") % 1_000_000_000
    return f"{first}.{second}"


def _consent(event: OutgoingEvent) -> dict:
    if event.anonymized:
        return {"ad_user_data": "DENIED", "ad_personalization": "DENIED"}
    mode = (event.consent or {}).get("consent_mode") or {}
    consent = {}
    for signal in ("ad_user_data", "ad_personalization"):
        if mode.get(signal) is not None:
            consent[signal] = "GRANTED" if mode[signal] else "DENIED"
    return consent


def _user_data(event: OutgoingEvent) -> dict:
    """The hashed identifiers GA4 documents hashed; values that are not SHA-256 hex are
    dropped rather than sent (nothing raw ever leaves through here)."""
    if event.anonymized:
        return {}
    data = event.user_data or {}

    def hashed(field: str) -> str | None:
        value = data.get(field)
        return value.lower() if isinstance(value, str) and is_sha256_hex(value) else None

    user_data: dict = {}
    if email := hashed("em"):
        user_data["sha256_email_address"] = [email]
    if phone := hashed("ph"):
        user_data["sha256_phone_number"] = [phone]
    address = {}
    if first_name := hashed("fn"):
        address["sha256_first_name"] = first_name
    if last_name := hashed("ln"):
        address["sha256_last_name"] = last_name
    if address:
        user_data["address"] = [address]
    return user_data


def request_fields(event: OutgoingEvent, measurement_id: str) -> dict:
    """The request-level fields ``event`` needs; events sharing them can share a request."""
    fields: dict = {"client_id": client_id_for(event, measurement_id)}
    if not event.anonymized and event.external_id:
        fields["user_id"] = event.external_id[:MAX_USER_ID]
    consent = _consent(event)
    user_data = _user_data(event)
    if user_data and consent.get("ad_user_data") != "DENIED":
        fields["user_data"] = user_data
    if consent:
        fields["consent"] = consent
    if not event.anonymized and event.ip:
        fields["ip_override"] = event.ip
    if event.user_agent and not event.anonymized:
        fields["user_agent"] = event.user_agent
    return fields


def _dumps(data: object) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str).encode()


# --- user deletion (User Deletion API, OAuth 2.0 for service accounts) -------------------------
#
# "Where configured": a GA4 destination with ``property_id`` (the GA4 property's numeric id)
# and ``service_account_key`` (the JSON key of a Google Cloud service account that is a user
# of the property, with the User Deletion API enabled) gets one ``upsert`` per client id and
# user id it was sent. docs/destinations-ga4-webhook.md, "User deletion", has the sources.

DELETION_PATH = "/analytics/v3/userDeletion/userDeletionRequests:upsert"
DELETION_URL = "https://www.googleapis.com" + DELETION_PATH
TOKEN_URL = "https://oauth2.googleapis.com/token"  # noqa: S105 - an endpoint, not a secret
TOKEN_PATH = "/token"  # noqa: S105 - the local stand-in's token endpoint under its base URL
DELETION_SCOPE = "https://www.googleapis.com/auth/analytics.user.deletion"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_SECONDS = 3600  # "a maximum of 1 hour after the issued time"
_PROPERTY_ID = re.compile(r"[1-9][0-9]{3,19}")
KEY_FIELD_HELP = (
    "Paste the JSON key of a Google Cloud service account (IAM > Service accounts > Keys) "
    "that has been added as a user of the GA4 property."
)


class ServiceAccountError(ValueError):
    pass


def service_account(text: str) -> tuple[dict, rsa.RSAPrivateKey]:
    """The service account JSON key's fields and its RSA private key, or
    ``ServiceAccountError`` saying what is wrong (never quoting the key)."""
    try:
        data = json.loads(text)
    except (TypeError, ValueError):
        raise ServiceAccountError("The key is not JSON: paste the whole key file.") from None
    if not isinstance(data, dict) or data.get("type") != "service_account":
        raise ServiceAccountError('The key is not a service account key ("type").')
    email = data.get("client_email")
    if not isinstance(email, str) or not _EMAIL.fullmatch(email):
        raise ServiceAccountError('The key has no "client_email".')
    try:
        key = serialization.load_pem_private_key(str(data.get("private_key")).encode(), None)
    except (TypeError, ValueError):
        raise ServiceAccountError('The key\'s "private_key" cannot be read.') from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ServiceAccountError('The key\'s "private_key" is not an RSA key.')
    return data, key


def deletion_configured(config: dict, secrets: dict) -> bool:
    return bool(config.get("property_id")) and bool(secrets.get("service_account_key"))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_assertion(key_text: str, now: datetime) -> str:
    """The service account's signed JWT (RS256) asking for the user-deletion scope."""
    data, key = service_account(key_text)
    header = {"alg": "RS256", "typ": "JWT"}
    if isinstance(data.get("private_key_id"), str):
        header["kid"] = data["private_key_id"]
    issued = int(now.timestamp())
    claims = {
        "iss": data["client_email"],
        "scope": DELETION_SCOPE,
        "aud": TOKEN_URL,
        "iat": issued,
        "exp": issued + ASSERTION_SECONDS,
    }
    signing_input = (_b64url(_dumps_sorted(header)) + "." + _b64url(_dumps_sorted(claims))).encode()
    signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return signing_input.decode() + "." + _b64url(signature)


def _dumps_sorted(data: dict) -> bytes:
    return json.dumps(data, separators=(",", ":"), sort_keys=True).encode()


def _google_base(config: dict) -> str | None:
    base = config.get("api_base_url")
    return base.rstrip("/") if isinstance(base, str) and base else None


def token_request(*, config: dict, secrets: dict, now: datetime) -> PlatformRequest:
    """The access token request: the JWT bearer grant, form-encoded."""
    base = _google_base(config)
    body = urlencode(
        {
            "grant_type": JWT_BEARER,
            "assertion": jwt_assertion(secrets["service_account_key"], now),
        }
    ).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return PlatformRequest(base + TOKEN_PATH if base else TOKEN_URL, headers, body, ())


def token_from_answer(status: int | None, body: bytes, error: str) -> tuple[str | None, str]:
    """(access token, "") from the token endpoint's answer, else (None, why)."""
    if status is None:
        return None, short_error(None, b"", error)
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    token = data.get("access_token") if isinstance(data, dict) else None
    if status == 200 and isinstance(token, str) and token:
        return token, ""
    reason = data.get("error") if isinstance(data, dict) else None
    described = f" ({reason})" if isinstance(reason, str) and reason.isascii() else ""
    return None, f"the token endpoint answered HTTP {status}{described}"[:ERROR_TEXT]


ERROR_TEXT = 200


def deletion_request(*, config: dict, token: str, id_type: str, user_id: str) -> PlatformRequest:
    """One ``userDeletionRequests:upsert``: ``id_type`` is ``CLIENT_ID`` or ``USER_ID``."""
    base = _google_base(config)
    body = _dumps(
        {
            "kind": "analytics#userDeletionRequest",
            "id": {"type": id_type, "userId": user_id},
            "propertyId": str(config["property_id"]),
        }
    )
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    return PlatformRequest(base + DELETION_PATH if base else DELETION_URL, headers, body, ())


def deletion_outcome(status: int | None, error: str) -> tuple[bool, str]:
    """(accepted, detail) of an upsert's answer; the detail never quotes the body (it holds
    the id that was deleted)."""
    if status is not None and 200 <= status < 300:
        return True, ""
    if status is None:
        return False, short_error(None, b"", error)
    return False, f"the User Deletion API answered HTTP {status}"


def deletion_ids(event: OutgoingEvent, measurement_id: str) -> list[tuple[str, str]]:
    """The (type, id) pairs GA4 holds ``event`` under, as ``request_fields`` sent them: its
    client id, and its user id when it had one. An anonymized event's client id is its own
    message's (linked to nobody): nothing to delete."""
    if event.anonymized:
        return []
    fields = request_fields(event, measurement_id)
    pairs = [("CLIENT_ID", fields["client_id"])]
    if fields.get("user_id"):
        pairs.append(("USER_ID", fields["user_id"]))
    return pairs


# --- the adapter ---------------------------------------------------------------------------------


class GA4Adapter:
    type = "ga4_mp"
    max_batch = MAX_EVENTS
    max_age = MAX_AGE
    secret_fields = ("api_secret",)
    # For forwarding deletions (User Deletion API): a property ID needs a key.
    optional_secret_fields = ("service_account_key",)
    config_fields = ("measurement_id", "property_id", "api_base_url")
    spec = "google"
    identifiers = (
        ("user_id", True),  # the hashed external id
        ("sha256_email_address", True),
        ("sha256_phone_number", True),
        ("address.sha256_first_name", True),
        ("address.sha256_last_name", True),
        ("client_id", False),  # the tag's own, or derived by SHA-256 from the anonymous id
        ("ip_override", False),
        ("user_agent", False),
    )

    def validate_config(self, config: dict, secrets: dict) -> dict[str, str]:
        problems = {}
        measurement_id = config.get("measurement_id")
        if not isinstance(measurement_id, str) or not _MEASUREMENT_ID.fullmatch(measurement_id):
            problems["measurement_id"] = (
                "Enter the measurement ID of a GA4 web data stream (G-XXXXXXXXXX), found "
                "under Admin > Data streams."
            )
        secret = secrets.get("api_secret")
        if not isinstance(secret, str) or not secret or secret != secret.strip():
            problems["api_secret"] = KEY_HELP
        base = config.get("api_base_url")
        if base not in (None, ""):
            problem = url_problem(base)
            if problem is None and (urlsplit(base).query or "?" in base):
                problem = "The base URL takes no query string."
            if problem:
                problems["api_base_url"] = problem
        problems.update(self._deletion_problems(config, secrets))
        return problems

    def _deletion_problems(self, config: dict, secrets: dict) -> dict[str, str]:
        property_id = config.get("property_id")
        key = secrets.get("service_account_key")
        problems = {}
        if property_id not in (None, "") and not _PROPERTY_ID.fullmatch(str(property_id)):
            problems["property_id"] = (
                "Enter the GA4 property ID: digits, found under Admin > Property details."
            )
        if key not in (None, ""):
            # A key without a property ID is kept, unused: clearing the property ID is how an
            # admin turns deletions off (a stored secret cannot be emptied from the form).
            try:
                service_account(key if isinstance(key, str) else "")
            except ServiceAccountError as error:
                problems["service_account_key"] = f"{error} {KEY_FIELD_HELP}"
        elif property_id not in (None, "") and "property_id" not in problems:
            problems["service_account_key"] = (
                "User deletion needs a service account key as well. " + KEY_FIELD_HELP
            )
        return problems

    def precheck(self, event: OutgoingEvent, now: datetime) -> str | None:
        """Why GA4 cannot take ``event`` (None when it can). Dead-letter on a reason."""
        if event.event_type in {"identify", "group", "alias"}:
            return (
                f"unsupported_type: the Measurement Protocol has no {event.event_type} call; "
                "only track, page and screen events are sent"
            )
        age = now - event.timestamp
        if age > MAX_AGE - AGE_MARGIN:
            hours = age.total_seconds() / 3600
            return (
                f"too_old: GA4 takes events up to 72 hours old and would record this one "
                f"({hours:.1f} hours old) as 72 hours old"
            )
        problem = name_problem(event_name(event))
        if problem:
            code, message = problem
            return f"{code}: {message}"
        size = len(_dumps({**request_fields(event, "G-XXXXXXXXXX"), "events": []}))
        if size + len(_dumps(event_entry(event, now))) > MAX_BODY:
            return "too_large: the event alone is larger than GA4's 130 kB request limit"
        return None

    def build(
        self, *, config: dict, secrets: dict, events: list[OutgoingEvent], now: datetime
    ) -> list[PlatformRequest]:
        measurement_id = config["measurement_id"]
        base = (config.get("api_base_url") or DEFAULT_BASE_URL).rstrip("/")
        query = urlencode({"measurement_id": measurement_id, "api_secret": secrets["api_secret"]})
        url = f"{base}{COLLECT_PATH}?{query}"
        headers = {"Content-Type": "application/json"}

        groups: dict[bytes, tuple[dict, list[tuple[int, dict]]]] = {}
        for event in events:
            fields = request_fields(event, measurement_id)
            key = json.dumps(fields, sort_keys=True).encode()
            groups.setdefault(key, (fields, []))[1].append(
                (event.delivery_id, event_entry(event, now))
            )

        requests = []

        def flush(fields: dict, chunk: list[tuple[int, dict]]) -> None:
            body = _dumps({**fields, "events": [entry for _, entry in chunk]})
            ids = tuple(delivery_id for delivery_id, _ in chunk)
            requests.append(PlatformRequest(url, dict(headers), body, ids))

        for fields, entries in groups.values():
            empty = len(_dumps({**fields, "events": []}))
            chunk: list[tuple[int, dict]] = []
            size = empty
            for delivery_id, entry in entries:
                entry_size = len(_dumps(entry)) + 1  # and a comma
                if chunk and (len(chunk) == MAX_EVENTS or size + entry_size >= MAX_BODY):
                    flush(fields, chunk)
                    chunk, size = [], empty
                chunk.append((delivery_id, entry))
                size += entry_size
            if chunk:
                flush(fields, chunk)
        return requests

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
        outcome = outcome_for_status(status)
        if outcome is Outcome.DELIVERED:
            return self._validated(ids, body)
        message = _redacted(short_error(status, body, error), request.url)
        wait = retry_after_seconds(headers) if outcome is Outcome.RETRY else None
        return [ItemOutcome(d, outcome, message, wait) for d in ids]

    def _validated(self, ids: tuple[int, ...], body: bytes) -> list[ItemOutcome]:
        """A 2xx: delivered, unless the answer is the validation server's and names problems
        (``/mp/collect`` itself answers 2xx with no body, whatever it did with the events)."""
        try:
            messages = json.loads(body).get("validationMessages") if body.strip() else None
        except (ValueError, AttributeError):
            messages = None
        if not messages or not isinstance(messages, list):
            return [ItemOutcome(d, Outcome.DELIVERED) for d in ids]
        per_event: dict[int, str] = {}
        for message in messages:
            if not isinstance(message, dict):
                continue
            text = f"{message.get('validationCode', 'INVALID')}: {message.get('description', '')}"
            where = f"{message.get('fieldPath', '')} {message.get('description', '')}"
            found = _INDEX.search(where)
            if found is None:  # a request-level problem: every event fails with it
                return [ItemOutcome(d, Outcome.FAILED, text[:200]) for d in ids]
            per_event.setdefault(int(found.group(1) or found.group(2)), text[:200])
        return [
            ItemOutcome(d, Outcome.FAILED, per_event[i])
            if i in per_event
            else ItemOutcome(d, Outcome.DELIVERED)
            for i, d in enumerate(ids)
        ]


def _redacted(text: str, url: str) -> str:
    """``text`` without the API secret (it travels in the URL, so an echo could hold it)."""
    for secret in parse_qs(urlsplit(url).query).get("api_secret", []):
        if secret:
            text = text.replace(secret, "[api_secret]")
    return text


ADAPTER = GA4Adapter()
