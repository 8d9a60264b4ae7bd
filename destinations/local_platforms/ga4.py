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

User deletion, written from Google's pages the same way [UD1, UD2]:

- ``POST /ga4/token`` is the OAuth 2.0 token endpoint of a service account: form-encoded
  ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` and ``assertion``, a JWT signed
  RS256 whose claims are ``iss`` (the account's e-mail), ``scope`` (space-separated, here it
  must hold ``…/auth/analytics.user.deletion``), ``aud`` (always
  ``https://oauth2.googleapis.com/token``), ``iat`` and ``exp`` ("a maximum of 1 hour after
  the issued time") [UD2]. The signature is checked (RSASSA-PKCS1-v1_5, SHA-256, in plain
  Python) with the public key registered for ``iss`` — Google publishes a service
  account's keys as JWKs; here a test registers its own (``register_service_account`` or
  ``POST /ga4/service-accounts``). A refusal is ``400 {"error": "invalid_grant",
  "error_description"}``; an answer ``{"access_token", "expires_in", "token_type":
  "Bearer"}`` [UD2].
- ``POST /ga4/analytics/v3/userDeletion/userDeletionRequests:upsert`` [UD1] takes
  ``Authorization: Bearer <a token it issued>`` (else ``401``) and a body
  ``{"kind": "analytics#userDeletionRequest", "id": {"type", "userId"}, "propertyId"}`` —
  ``type`` one of ``CLIENT_ID``, ``USER_ID``, ``APP_INSTANCE_ID``; exactly one of
  ``propertyId``, ``webPropertyId``, ``firebaseProjectId`` (else ``400``) — and answers the
  resource with ``deletionRequestTime``. Each accepted one is recorded (``_kind:
  "user_deletion"``).

Sources (read through the search tool's stored copies, December 2026):

- [UD1] User Deletion API, ``userDeletionRequest`` resource and ``upsert``:
  https://developers.google.com/analytics/devguides/config/userdeletion/v3/reference/userDeletion/userDeletionRequest
- [UD2] Using OAuth 2.0 for Server to Server Applications:
  https://developers.google.com/identity/protocols/oauth2/service-account

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

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

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


# --- user deletion [UD1, UD2] -------------------------------------------------------------

TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"  # noqa: S105 - "always" this [UD2]
DELETION_SCOPE = "https://www.googleapis.com/auth/analytics.user.deletion"  # [UD1]
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"  # [UD2]
ASSERTION_MAX_SECONDS = 3600  # [UD2]
DELETION_PATH = "/analytics/v3/userDeletion/userDeletionRequests:upsert"
ID_TYPES = frozenset({"CLIENT_ID", "USER_ID", "APP_INSTANCE_ID"})  # [UD1]
PROPERTY_FIELDS = ("propertyId", "webPropertyId", "firebaseProjectId")  # [UD1]


# Service accounts this stand-in knows: client e-mail → RSA public key (n, e). Google publishes
# each service account's public keys as JWKs (``/service_accounts/v1/jwk/<email>``); a test
# (or a developer) registers its account's the same way: ``register_service_account`` or
# ``POST /ga4/service-accounts {"client_email", "jwk": {"kty": "RSA", "n", "e"}}``.
_accounts: dict[str, tuple[int, int]] = {}
_accounts_lock = threading.Lock()
# DER of SHA-256's DigestInfo prefix (RFC 8017, section 9.2, note 1).
_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def register_service_account(client_email: str, jwk: dict) -> None:
    if jwk.get("kty") != "RSA":
        raise ValueError("an RSA JWK is expected")
    n = int.from_bytes(_unb64(jwk["n"]), "big")
    e = int.from_bytes(_unb64(jwk["e"]), "big")
    with _accounts_lock:
        _accounts[client_email] = (n, e)


def rs256_valid(public: tuple[int, int], message: bytes, signature: bytes) -> bool:
    """RSASSA-PKCS1-v1_5 with SHA-256 (RFC 8017, 8.2.2), verified with ``public`` (n, e)."""
    n, e = public
    size = (n.bit_length() + 7) // 8
    if len(signature) != size or int.from_bytes(signature, "big") >= n:
        return False
    encoded = pow(int.from_bytes(signature, "big"), e, n).to_bytes(size, "big")
    digest_info = _SHA256_DIGEST_INFO + hashlib.sha256(message).digest()
    if size < len(digest_info) + 11:
        return False
    expected = b"\x00\x01" + b"\xff" * (size - len(digest_info) - 3) + b"\x00" + digest_info
    return hmac.compare_digest(encoded, expected)


def assertion_problem(assertion: str, now: float) -> str | None:
    """Why the JWT ``assertion`` is refused (None: it is good) [UD2]."""
    parts = assertion.split(".")
    if len(parts) != 3:
        return "the assertion is not a JWT"
    try:
        header = json.loads(_unb64(parts[0]))
        claims = json.loads(_unb64(parts[1]))
        signature = _unb64(parts[2])
    except ValueError:
        return "the assertion cannot be decoded"
    if not isinstance(header, dict) or header.get("alg") != "RS256":
        return "the JWT header must say alg RS256"
    if not isinstance(claims, dict):
        return "the claims are not an object"
    issuer = claims.get("iss")
    with _accounts_lock:
        public = _accounts.get(issuer) if isinstance(issuer, str) else None
    if public is None:
        return "unknown issuer"
    if not rs256_valid(public, f"{parts[0]}.{parts[1]}".encode(), signature):
        return "invalid JWT signature"
    if DELETION_SCOPE not in str(claims.get("scope", "")).split(" "):
        return "the scope does not hold the user deletion scope"
    if claims.get("aud") != TOKEN_AUDIENCE:
        return "the audience must be " + TOKEN_AUDIENCE
    issued, expires = claims.get("iat"), claims.get("exp")
    if not isinstance(issued, int) or not isinstance(expires, int):
        return "iat and exp must be whole seconds"
    if expires - issued > ASSERTION_MAX_SECONDS or expires <= issued:
        return "exp must be at most one hour after iat"
    if issued > now + 60 or expires < now:
        return "the assertion is not valid now"
    return None


def deletion_problem(payload: object) -> str | None:
    """Why an upsert body is refused (None: it is good) [UD1]."""
    if not isinstance(payload, dict):
        return "the body is not a JSON object"
    if payload.get("kind") != "analytics#userDeletionRequest":
        return "kind must be analytics#userDeletionRequest"
    user = payload.get("id")
    if not isinstance(user, dict) or user.get("type") not in ID_TYPES:
        return "id.type must be one of " + ", ".join(sorted(ID_TYPES))
    if not isinstance(user.get("userId"), str) or not user["userId"]:
        return "id.userId is required"
    given = [name for name in PROPERTY_FIELDS if payload.get(name)]
    if len(given) != 1:
        return "give exactly one of " + ", ".join(PROPERTY_FIELDS)
    if given[0] == "propertyId" and not str(payload["propertyId"]).isdigit():
        return "propertyId is a GA4 property's numeric id"
    return None


class GA4Platform:
    name = "ga4"

    def __init__(self):
        self._tokens: set[str] = set()
        self._tokens_lock = threading.Lock()

    def _token(self, body: bytes) -> Reply:
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != JWT_BEARER:
            return Reply.json(400, {"error": "unsupported_grant_type"})
        problem = assertion_problem(form.get("assertion", ""), time.time())
        if problem:
            return Reply.json(400, {"error": "invalid_grant", "error_description": problem})
        token = "ya29.local-" + secrets.token_urlsafe(24)
        with self._tokens_lock:
            self._tokens.add(token)
        return Reply.json(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    def _deletion(self, headers: dict, body: bytes, state: PlatformState) -> Reply:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        with self._tokens_lock:
            known = scheme == "Bearer" and token in self._tokens
        if not known:
            return Reply.json(
                401,
                {
                    "error": {
                        "code": 401,
                        "message": "Request had invalid authentication credentials.",
                        "status": "UNAUTHENTICATED",
                    }
                },
            )
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        problem = deletion_problem(payload)
        if problem:
            return Reply.json(400, {"error": {"code": 400, "message": problem}})
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        answer = {**payload, "deletionRequestTime": stamp}
        state.accept([{**answer, "_kind": "user_deletion"}])
        return Reply.json(200, answer)

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
        if path == "/service-accounts" and method == "POST":
            try:
                account = json.loads(body)
                register_service_account(account["client_email"], account["jwk"])
            except (ValueError, KeyError, TypeError):
                return Reply.json(400, {"error": "give client_email and an RSA jwk"})
            return Reply.json(200, {"registered": account["client_email"]})
        if path in {"/token", DELETION_PATH}:
            if method != "POST":
                return Reply(405, b"", {"Allow": "POST"})
            if path == "/token":
                return self._token(body)
            return self._deletion(headers, body, state)
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
