"""From what an SDK sent to what TrackLayer may store: one event at a time, no I/O.

``prepare_event`` validates the envelope (Segment's field names and rules), corrects the
client's clock the way Segment does, minimises personal data (hashing it per destination spec
with ``privacy.pii``; raw values are never kept), moves IP and user agent to operational
storage, and reads the consent signals. It returns a ``Prepared`` event or a ``Rejected`` one
with every error found, each naming its field. The writer
(``destinations.ingestion.services``) stores what this returns; the API views only parse
bodies and answer.
"""

import ipaddress
import json
import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson

from destinations.exceptions import InvalidBodyError
from privacy import consent as consent_signals
from privacy import pii
from privacy.consent import ConsentConfig, ConsentSignals
from tracklayer.addresses import is_canonical_ipv4

MESSAGE_ID_MAX = 100
ID_MAX = 100
NAME_MAX = 200
TYPES = ("track", "identify", "page", "screen", "group", "alias")
SPECS = pii.SPECS

# What PostgreSQL (jsonb, text, timestamptz) and Python would refuse is refused here, per
# event, with a named error: one event that the database cannot take must never reach the
# group-commit statement that carries other requests' events (docs/ingestion.md, "Limits").
MAX_DEPTH = 32  # objects and arrays, the event itself being depth 1
MAX_ERRORS = 20  # per event: a hostile event does not get a megabyte of answers
INT_MIN, INT_MAX = -(2**63), 2**64 - 1  # what orjson (the writer's encoder) can write
# Each time the client sends (timestamp, originalTimestamp, sentAt) must lie in this window —
# wide enough for a device whose clock was reset to 1970, since the skew correction repairs it.
SENT_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
SENT_LATEST = datetime(2100, 1, 1, tzinfo=UTC)
# The event time after the correction must lie between this and receivedAt + EVENT_FUTURE.
EVENT_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
EVENT_FUTURE = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    code: str
    message: str

    def to_dict(self) -> dict:
        return {"field": self.field, "code": self.code, "message": self.message}


@dataclass(slots=True)
class Rejected:
    index: int
    message_id: str | None
    errors: list[FieldError]

    def to_dict(self) -> dict:
        return {
            "index": self.index,
            "messageId": self.message_id,
            "errors": [error.to_dict() for error in self.errors],
        }


@dataclass(slots=True)
class Prepared:
    index: int
    message_id: str
    row: dict  # Event column values, except workspace, api_key, received_at, status
    ip: str | None
    user_agent: str
    event_name: str  # for the tracking plan: track → event, page/screen → name
    warnings: list[FieldError] = field(default_factory=list)
    # What the client sent, before minimisation: the tracking plan judges the event as sent
    # (its messages never quote values). Never stored.
    sent_properties: dict = field(default_factory=dict, repr=False)
    sent_traits: dict = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class IngestionConfig:
    """What ``prepare_event`` needs from the workspace's settings."""

    consent: ConsentConfig
    max_event_bytes: int = 32 * 1024
    default_region: str | None = None
    pii_paths: tuple[str, ...] = ()


# --- Personal fields --------------------------------------------------------------------------

# Trait and property names (lower case, without "_" or "-") that hold personal data, and the
# privacy.pii field each is normalised as. Street addresses and coordinates are personal but no
# destination takes them: they are removed without a hash.
PII_KEYS = {
    "email": "em",
    "emailaddress": "em",
    "phone": "ph",
    "phonenumber": "ph",
    "mobile": "ph",
    "firstname": "fn",
    "lastname": "ln",
    "city": "ct",
    "state": "st",
    "postalcode": "zp",
    "zip": "zp",
    "zipcode": "zp",
    "country": "country",
    "birthday": "db",
    "dateofbirth": "db",
    "dob": "db",
    "gender": "ge",
    "externalid": "external_id",
}
REMOVED_KEYS = frozenset({"street", "address1", "address2", "streetaddress", "name"})
# In ``properties`` these are not personal: Segment's e-commerce events put the product's name
# in ``name`` (Product Viewed, Product Added …) and a promotion's in Promotion Viewed. A
# person's name comes from traits and the workspace's PII paths, never from properties — nor
# from a group call's traits, where ``name`` is the company's (Segment's group spec).
PROPERTY_KEPT = frozenset({"name"})
LOCATION_REMOVED = ("latitude", "longitude", "city")


def _fold(key: str) -> str:
    return key.lower().replace("_", "").replace("-", "")


# --- Input the database or Python would refuse -----------------------------------------------

# Lone surrogates (JSON "\\ud800"): jsonb refuses them, and so does UTF-8.
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_PATH_KEY_MAX = 64


def text_problem(text: str) -> tuple[str, str] | None:
    """(code, why) when PostgreSQL could not store ``text``; None when it can."""
    if "\x00" in text:
        return "nul_character", "contains a NUL character (\\u0000), which cannot be stored"
    if not text.isascii() and _SURROGATE.search(text):
        return "lone_surrogate", "contains a lone UTF-16 surrogate, which is not valid Unicode"
    return None


def _path_key(key: str) -> str:
    """A key as it may appear in an error's ``field``: printable, short, valid UTF-8."""
    shown = "".join(
        c if c.isprintable() and not ("\ud800" <= c <= "\udfff") else f"\\u{ord(c):04x}"
        for c in key[:_PATH_KEY_MAX]
    )
    return shown + ("…" if len(key) > _PATH_KEY_MAX else "")


def _render(chain) -> str:
    parts = []
    while chain is not None:
        chain, key = chain
        parts.append(f"[{key}]" if isinstance(key, int) else _path_key(key))
    path = ""
    for part in reversed(parts):
        path += part if part.startswith("[") or not path else "." + part
    return path


def _encoded(value: object) -> bytes | None:
    """``value`` as orjson (the writer's encoder) writes it, or None where it cannot."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return None


def _plainly_fine(value: object, depth: int, written: bytes | None = None) -> bool:
    """The common case in a microsecond instead of a walk: orjson writes ``value`` (so no lone
    surrogate, no integer beyond 64 bits, no key that is not text, nothing deeper than 254),
    with no NUL escape, no ``null`` (which is how it writes NaN and infinities) and fewer
    ``{``/``[`` than the depth allowed (each counts once, so their number bounds the depth).
    Anything else — or a string that merely contains such text — takes the walk. ``written``
    is ``_encoded(value)`` where the caller has it already."""
    if written is None:
        written = _encoded(value)
    if written is None:
        return False
    return (
        b"\\u0000" not in written
        and b"null" not in written
        and depth + written.count(b"{") + written.count(b"[") <= MAX_DEPTH
    )


def input_problems(
    value: object, *, root: str = "", depth: int = 0, written: bytes | None = None
) -> list[FieldError]:
    """What in ``value`` (parsed JSON) could not be stored or computed with, each named by
    its path: NUL characters and lone surrogates in any string or key, nesting deeper than
    ``MAX_DEPTH``, integers beyond 64 bits, floats that are not finite, and anything that is
    not JSON. Iterative, so no depth can exhaust Python's stack; at most ``MAX_ERRORS``.
    ``written`` is ``_encoded(value)`` where the caller has it already."""
    if _plainly_fine(value, depth, written):
        return []
    return _walk(value, root, depth)


def _walk(value: object, root: str, depth: int) -> list[FieldError]:
    errors: list[FieldError] = []
    start = (None, root) if root else None
    stack: list[tuple[object, object, int]] = [(value, start, depth)]
    while stack and len(errors) < MAX_ERRORS:
        node, chain, level = stack.pop()
        if node is None or node is True or node is False:
            continue
        if isinstance(node, str):
            problem = text_problem(node)
            if problem:
                errors.append(FieldError(_render(chain), problem[0], f"The text {problem[1]}."))
        elif isinstance(node, dict | list):
            level += 1
            if level > MAX_DEPTH:
                errors.append(
                    FieldError(
                        _render(chain),
                        "too_deep",
                        f"Objects and arrays nest at most {MAX_DEPTH} levels deep.",
                    )
                )
                continue
            if isinstance(node, list):
                stack.extend((item, (chain, i), level) for i, item in enumerate(node))
                continue
            for key, item in node.items():
                if not isinstance(key, str):
                    errors.append(FieldError(_render(chain), "invalid_key", "Keys are text."))
                    continue
                problem = text_problem(key)
                if problem:
                    errors.append(
                        FieldError(_render((chain, key)), problem[0], f"The key {problem[1]}.")
                    )
                    continue
                stack.append((item, (chain, key), level))
        elif isinstance(node, int):
            if not INT_MIN <= node <= INT_MAX:
                errors.append(
                    FieldError(
                        _render(chain),
                        "number_out_of_range",
                        "Whole numbers must fit in 64 bits (-2^63 to 2^64-1); send larger "
                        "ones as text.",
                    )
                )
        elif isinstance(node, float):
            if not math.isfinite(node):
                errors.append(
                    FieldError(
                        _render(chain),
                        "number_out_of_range",
                        "Numbers must fit in a double (up to about 1.8e308); NaN and "
                        "infinities are not JSON.",
                    )
                )
        else:
            errors.append(FieldError(_render(chain), "invalid_type", "Not a JSON value."))
    return errors


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


# What orjson refuses a whole body for although it is valid JSON syntax that one event can hold:
# a lone surrogate escape, and a number literal that overflows a double (``1e400``, an integer
# of 400 digits) — its message for both kinds of number.
_REPARSED = ("surrogate", "number is infinity when parsed as double")


def body_json(body: bytes) -> object:
    """A request body, parsed; ``InvalidBodyError`` (invalid_json) when it is not JSON.

    orjson refuses a lone surrogate escape ("\\ud800") with the whole body, yet it is valid
    JSON syntax — browsers' JSON.stringify writes one for half an emoji cut off — and so is a
    number literal too large for a double. Such a body is parsed again by the standard library
    (which reads ``1e400`` as infinity and long integers exactly), and ``input_problems`` then
    refuses only the events that hold one, by path: the rest of the batch is kept. ``NaN`` and
    ``Infinity`` are not JSON, and nesting too deep for either parser (orjson: 1,024 levels) or
    an integer longer than Python converts (4,300 digits) is invalid JSON too."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        first = error
    if any(kind in str(first) for kind in _REPARSED):
        try:
            return json.loads(body, parse_constant=_no_constant)
        except (ValueError, RecursionError):
            pass
    raise InvalidBodyError(f"The body is not valid JSON: {first}", code="invalid_json")


def _clean_id(value: object) -> str | None:
    """A messageId fit to be repeated in an answer, or None."""
    return value if isinstance(value, str) and text_problem(value) is None else None


def rejected_id(raw: object) -> str | None:
    """The messageId of ``raw`` (an event as sent) to name it by in a rejection, or None."""
    return _clean_id(raw.get("messageId")) if isinstance(raw, dict) else None


def batch_problems(batch: Mapping | None) -> list[FieldError]:
    """What in a batch's own ``context``, ``integrations`` and ``sentAt`` — merged into each
    of its events — could not be stored; checked once per request, not once per event."""
    if not batch:
        return []
    errors: list[FieldError] = []
    for name in ("context", "integrations", "sentAt"):
        value = batch.get(name)
        if value is None:
            continue
        if name != "sentAt" and not isinstance(value, dict):
            errors.append(FieldError(f"batch.{name}", "invalid_type", "Give a JSON object."))
            continue
        # Depth 1: merged, they sit inside an event as that event's own would.
        errors += input_problems(value, root=f"batch.{name}", depth=1)
    return errors[:MAX_ERRORS]


class _Minimiser:
    """Collects hashed identifiers (first value per field wins) and what was done, by path."""

    def __init__(self, default_region: str | None, memo: dict | None = None):
        self.default_region = default_region
        self.memo = memo  # the request's: its events' repeated values hashed once
        self.identifiers: dict[str, dict[str, str]] = {spec: {} for spec in SPECS}
        self.hashed: list[str] = []
        self.removed: list[str] = []
        self.warnings: list[FieldError] = []

    def hash_into(self, pii_field: str, value: object, path: str) -> None:
        if value is None or value == "":
            return
        if value.__class__ is not str:  # text is the common case: one check
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                self.warnings.append(
                    FieldError(
                        path, "invalid_type", "A personal field must be text; it was dropped."
                    )
                )
                return
            value = str(value)
        try:
            hashes = pii.hashed_for_specs(
                pii_field, value, default_region=self.default_region, memo=self.memo
            )
        except pii.PIIValueError as error:
            self.warnings.append(
                FieldError(path, error.code, f"{error.message}; the value was dropped.")
            )
            return
        for spec, digest in hashes.items():
            self.identifiers[spec].setdefault(pii_field, digest)
        self.hashed.append(path)

    def strip(self, data: Mapping, path: str, *, kept_keys: frozenset[str] = frozenset()) -> dict:
        """``data`` without its personal fields, which are hashed (or removed) on the way;
        ``kept_keys`` (folded) are not personal here and stay as they are."""
        kept = {}
        full_name = None
        for key, value in data.items():
            folded = _fold(key)
            if folded in kept_keys:
                kept[key] = value
                continue
            if folded == "address" and isinstance(value, Mapping):
                for part, part_value in value.items():
                    part_fold = _fold(part)
                    if part_fold in PII_KEYS:
                        self.hash_into(PII_KEYS[part_fold], part_value, f"{path}.address.{part}")
                    else:
                        self.removed.append(f"{path}.address.{part}")
            elif folded == "address":
                self.removed.append(f"{path}.{key}")
            elif folded in PII_KEYS:
                self.hash_into(PII_KEYS[folded], value, f"{path}.{key}")
            elif folded in REMOVED_KEYS:
                if folded == "name" and isinstance(value, str):
                    full_name = value
                self.removed.append(f"{path}.{key}")
            else:
                kept[key] = value
        if full_name and "fn" not in self.identifiers["meta"]:
            # Segment's "name" trait is the full name: its first and last words stand in for
            # first and last name when those were not given.
            words = full_name.split()
            if len(words) >= 2:
                self.hash_into("fn", words[0], f"{path}.name")
                self.hash_into("ln", words[-1], f"{path}.name")
        return kept

    def hash_path(self, root: dict, path: str, full_path: str) -> None:
        """A workspace-listed path: its value replaced by the SHA-256 of its trimmed text."""
        keys = path.split(".")
        node = root
        for key in keys[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
            if node is None:
                return
        if isinstance(node, dict) and node.get(keys[-1]) not in (None, ""):
            value = node[keys[-1]]
            if isinstance(value, dict | list):
                del node[keys[-1]]
                self.removed.append(full_path)
            else:
                node[keys[-1]] = pii.hashed("external_id", str(value))
                self.hashed.append(full_path)


# --- What the events of one request share ------------------------------------------------------

# The top-level context keys that consent is read from (privacy.consent's *_PATHS, and the
# location that decides the jurisdiction): events whose values there are equal have equal
# consent signals. A test keeps this list complete.
CONSENT_KEYS = (
    *dict.fromkeys(
        path[0]
        for paths in (
            consent_signals.TCF_PATHS,
            consent_signals.CONSENT_MODE_PATHS,
            consent_signals.GCS_PATHS,
            consent_signals.GPC_PATHS,
            consent_signals.US_PRIVACY_PATHS,
            consent_signals.CATEGORY_PATHS,
        )
        for path in paths
    ),
    "location",
)


class RequestMemo:
    """What the events of one request usually share, worked out once for all of them: their
    consent signals (a device's batch carries the same TC string and Consent Mode in every
    event), their IP address, the hashes of a visitor's identifiers that each of its events
    repeats, and the size of the batch's own context. One per request — the workspace's
    consent settings and the request's headers are part of the answer — and never shared
    between requests: raw identifiers are dropped with it. Bounded whatever a hostile batch
    carries (``_MEMO_KEY_MAX``, ``_MEMO_ENTRIES``, ``pii.MEMO_SIZE``)."""

    __slots__ = ("batch_bytes", "consent", "ips", "pii")

    def __init__(self) -> None:
        self.consent: dict[bytes, tuple[ConsentSignals, dict]] = {}
        self.ips: dict[str, str | None] = {}
        self.pii: dict = {}
        self.batch_bytes: int | None = None


# A consent key longer than this is not remembered (nor looked up): a batch whose context
# carries a large value where consent is read from cannot make the memo hold a copy of it per
# event. At most _MEMO_ENTRIES keys are remembered per request.
_MEMO_KEY_MAX = 8 * 1024
_MEMO_ENTRIES = 256


def _consent(
    config: IngestionConfig, context: dict, headers: Mapping | None, memo: RequestMemo | None
) -> tuple[ConsentSignals, dict]:
    """The consent signals of ``context`` and their stored form, from ``memo`` when an
    earlier event of the request had the same values where consent is read from."""
    key = None
    if memo is not None:
        try:
            key = orjson.dumps([context.get(name) for name in CONSENT_KEYS])
        except orjson.JSONEncodeError:
            key = None
        if key is not None and len(key) > _MEMO_KEY_MAX:
            key = None
        if key is not None and (known := memo.consent.get(key)) is not None:
            return known
    signals = config.consent.capture(context, headers=headers)
    captured = (signals, signals.to_dict())
    if key is not None and len(memo.consent) < _MEMO_ENTRIES:
        memo.consent[key] = captured
    return captured


def _batch_bytes(batch: Mapping | None, memo: RequestMemo | None) -> int:
    """The size of what a batch's own ``context`` and ``integrations`` add to each of its
    events (they are stored with every one): counted in each event's size, so a large batch
    context cannot be stored once per event past the size limit. Once per request."""
    if memo is not None and memo.batch_bytes is not None:
        return memo.batch_bytes
    size = 0
    for name in ("context", "integrations"):
        value = batch.get(name) if batch else None
        if isinstance(value, dict) and value:
            written = _encoded(value)
            size += len(written) if written is not None else 0
    if memo is not None:
        memo.batch_bytes = size
    return size


# --- Envelope ---------------------------------------------------------------------------------


def _timestamp(raw: object, name: str, errors: list[FieldError]) -> datetime | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        try:
            moment = datetime.fromisoformat(raw.strip())
        except ValueError:
            pass
        else:
            moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
            if not SENT_EARLIEST <= moment < SENT_LATEST:
                errors.append(
                    FieldError(
                        name,
                        "timestamp_out_of_range",
                        f"Give a time from {SENT_EARLIEST:%Y-%m-%d} to before "
                        f"{SENT_LATEST:%Y-%m-%d} (UTC).",
                    )
                )
                return None
            # In UTC from here: the window keeps the conversion and the skew arithmetic in range.
            return moment.astimezone(UTC)
    errors.append(FieldError(name, "invalid_timestamp", "Give an ISO 8601 date and time."))
    return None


def _identifier(raw: object, name: str, errors: list[FieldError]) -> str:
    if raw is None or raw == "":
        return ""
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        errors.append(FieldError(name, "invalid_type", "Give a string (or a whole number)."))
        return ""
    text = str(raw).strip()
    if len(text) > ID_MAX and name == "anonymousId":
        errors.append(FieldError(name, "too_long", f"At most {ID_MAX} characters."))
        return ""
    return text


def _object(raw: object, name: str, errors: list[FieldError]) -> dict:
    if raw is None:
        return {}
    if isinstance(raw, dict):
        return raw
    errors.append(FieldError(name, "invalid_type", "Give a JSON object."))
    return {}


def _merge(batch_level: Mapping | None, own: Mapping) -> dict:
    """Batch-level context or integrations under the event's own (which wins, key by key)."""
    if not batch_level or not isinstance(batch_level, Mapping):
        return dict(own)
    merged = dict(batch_level)
    for key, value in own.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _ip(raw: object, minimiser: "_Minimiser | None", memo: RequestMemo | None = None) -> str | None:
    if raw is None or raw == "":
        return None
    if memo is not None and isinstance(raw, str) and raw in memo.ips:
        return memo.ips[raw]  # only addresses that were valid are remembered
    try:
        text = str(raw).strip()
        if not is_canonical_ipv4(text):  # else it reads as itself (tracklayer.addresses)
            address = ipaddress.ip_address(text)
            if getattr(address, "scope_id", None):
                # "fe80::1%eth0": Python reads the zone, PostgreSQL's inet refuses it.
                raise ValueError("zone index")
            text = str(address)
        if memo is not None and isinstance(raw, str) and len(memo.ips) < _IPS_REMEMBERED:
            memo.ips[raw] = text
        return text
    except ValueError:
        if minimiser is not None:
            minimiser.warnings.append(
                FieldError("context.ip", "invalid_ip", "Not an IP address; it was dropped.")
            )
        return None


_IPS_REMEMBERED = 64


def event_timestamps(
    *, timestamp, original, sent_at, received_at: datetime
) -> tuple[datetime, datetime | None]:
    """Segment's clock-skew correction. The client's event time is ``originalTimestamp`` (or
    the ``timestamp`` it set); when the client also said when it sent the batch (``sentAt``),
    its clock's offset is removed: ``timestamp = receivedAt − (sentAt − originalTimestamp)``.
    Returns (timestamp, original_timestamp)."""
    original = original or timestamp
    if original is not None and sent_at is not None:
        return received_at - (sent_at - original), original
    return original or received_at, original


def _event_time_problem(moment: datetime, received_at: datetime) -> FieldError | None:
    if moment < EVENT_EARLIEST:
        return FieldError(
            "timestamp",
            "timestamp_out_of_range",
            f"The event time (after clock-skew correction) is before {EVENT_EARLIEST:%Y-%m-%d}.",
        )
    if moment > received_at + EVENT_FUTURE:
        return FieldError(
            "timestamp",
            "timestamp_in_future",
            "The event time (after clock-skew correction) is more than "
            f"{EVENT_FUTURE.days} day after it was received.",
        )
    return None


def prepare_event(
    raw: object,
    *,
    index: int,
    kind: str | None,
    received_at: datetime,
    config: IngestionConfig,
    size: int | None,
    batch: Mapping | None = None,
    request_ip: str | None = None,
    headers: Mapping | None = None,
    memo: RequestMemo | None = None,
) -> Prepared | Rejected:
    """One event, checked and minimised. ``kind`` is the type the path implies (Segment's
    /v1/track …), or None where each event names its own (/v1/events, /v1/batch). ``size`` is
    the event's size in bytes, or None to measure it here. A batch's own ``context`` and
    ``integrations`` are checked once per request (``input_problems``) by the caller.
    ``memo`` (one per request) lets the request's events share what they have in common."""
    if not isinstance(raw, dict):
        return Rejected(
            index, None, [FieldError("", "invalid_type", "Each event is a JSON object.")]
        )
    # Encoded once: for the fast input check and, when not given, the event's size.
    written = _encoded(raw)
    problems = input_problems(raw, written=written)
    if problems:
        return Rejected(index, rejected_id(raw), problems)
    if size is None:
        size = len(written if written is not None else orjson.dumps(raw))
    errors: list[FieldError] = []
    raw_message_id = raw.get("messageId")
    message_id = None
    if raw_message_id is None or raw_message_id == "":
        message_id = f"tl-{uuid.uuid4()}"
    elif not isinstance(raw_message_id, str):
        errors.append(FieldError("messageId", "invalid_type", "Give a string."))
    elif len(raw_message_id) > MESSAGE_ID_MAX:
        errors.append(FieldError("messageId", "too_long", f"At most {MESSAGE_ID_MAX} characters."))
    else:
        message_id = raw_message_id

    shared_bytes = _batch_bytes(batch, memo)
    if size + shared_bytes > config.max_event_bytes:
        with_batch = " with the batch's context and integrations" if shared_bytes else ""
        errors.append(
            FieldError(
                "",
                "event_too_large",
                f"The event is {size + shared_bytes:,} bytes{with_batch}; the limit is "
                f"{config.max_event_bytes:,}.",
            )
        )
        return Rejected(index, message_id, errors)

    event_type = raw.get("type") if kind is None else kind
    if kind is not None and raw.get("type") not in (None, kind):
        errors.append(FieldError("type", "type_mismatch", f"This endpoint takes {kind} events."))
    if event_type not in TYPES:
        errors.append(
            FieldError(
                "type",
                "invalid_type" if event_type else "required",
                "One of: " + ", ".join(TYPES) + ".",
            )
        )
        return Rejected(index, message_id, errors)

    user_id = _identifier(raw.get("userId"), "userId", errors)
    anonymous_id = _identifier(raw.get("anonymousId"), "anonymousId", errors)
    if (
        not user_id
        and not anonymous_id
        and not any(e.field in {"userId", "anonymousId"} for e in errors)
    ):
        errors.append(FieldError("userId", "required", "Give userId or anonymousId."))

    name = ""
    if event_type == "track":
        event_name = raw.get("event")
        if not isinstance(event_name, str) or not event_name.strip():
            errors.append(FieldError("event", "required", "A track event needs its name."))
        elif len(event_name) > NAME_MAX:
            errors.append(FieldError("event", "too_long", f"At most {NAME_MAX} characters."))
        else:
            name = event_name.strip()
    elif event_type in {"page", "screen"} and raw.get("name") is not None:
        if not isinstance(raw["name"], str):
            errors.append(
                FieldError("name", "invalid_type", f"A string of at most {NAME_MAX} characters.")
            )
        elif len(raw["name"]) > NAME_MAX:
            errors.append(FieldError("name", "too_long", f"At most {NAME_MAX} characters."))
        else:
            name = raw["name"].strip()
    group_id = previous_id = ""
    if event_type == "group":
        group_id = _identifier(raw.get("groupId"), "groupId", errors)
        if not group_id and not any(e.field == "groupId" for e in errors):
            errors.append(FieldError("groupId", "required", "A group call needs groupId."))
    if event_type == "alias":
        previous_id = _identifier(raw.get("previousId"), "previousId", errors)
        if not previous_id and not any(e.field == "previousId" for e in errors):
            errors.append(FieldError("previousId", "required", "An alias call needs previousId."))

    timestamp = _timestamp(raw.get("timestamp"), "timestamp", errors)
    original = _timestamp(raw.get("originalTimestamp"), "originalTimestamp", errors)
    sent_at = _timestamp(raw.get("sentAt", (batch or {}).get("sentAt")), "sentAt", errors)
    properties = _object(raw.get("properties"), "properties", errors)
    traits = _object(raw.get("traits"), "traits", errors)
    context = _merge((batch or {}).get("context"), _object(raw.get("context"), "context", errors))
    integrations = _merge(
        (batch or {}).get("integrations"), _object(raw.get("integrations"), "integrations", errors)
    )
    if errors:
        return Rejected(index, message_id, errors)

    timestamp, original = event_timestamps(
        timestamp=timestamp, original=original, sent_at=sent_at, received_at=received_at
    )
    problem = _event_time_problem(timestamp, received_at)
    if problem:
        return Rejected(index, message_id, [problem])
    consent, consent_stored = _consent(config, context, headers, memo)

    # Minimise: personal fields out (hashed per spec), IP and user agent to operational storage.
    sent_properties, sent_traits = properties, traits
    minimiser = _Minimiser(config.default_region, memo.pii if memo is not None else None)
    if user_id:
        minimiser.hash_into("external_id", user_id, "userId")
    # Traits first: the first value of each field wins, and the person is described by their
    # traits; properties (which describe the event) only fill in what traits did not give.
    # A group call's traits describe the group: its "name" is the company's, not a person's.
    traits = minimiser.strip(
        traits, "traits", kept_keys=PROPERTY_KEPT if event_type == "group" else frozenset()
    )
    context = dict(context)
    if isinstance(context.get("traits"), dict):
        context["traits"] = minimiser.strip(context["traits"], "context.traits")
    properties = minimiser.strip(properties, "properties", kept_keys=PROPERTY_KEPT)
    ip = context.pop("ip", None)
    user_agent = context.pop("userAgent", "")
    for key, value in (("context.ip", ip), ("context.userAgent", user_agent)):
        if value:
            minimiser.removed.append(key)
    if isinstance(context.get("location"), dict):
        location = dict(context["location"])
        for key in LOCATION_REMOVED:
            if location.pop(key, None) is not None:
                minimiser.removed.append(f"context.location.{key}")
        context["location"] = location
    context.pop("consent", None)  # stored, parsed, in the consent column
    roots = {"properties": properties, "traits": traits, "context": context}
    for path in config.pii_paths:
        root, _, rest = path.partition(".")
        if root in roots and rest:
            minimiser.hash_path(roots[root], rest, path)
    # The request's address may come from X-Forwarded-For: text, checked like the event's own.
    ip = _ip(ip, minimiser, memo) or _ip(request_ip, None, memo)
    user_agent = user_agent if isinstance(user_agent, str) else ""

    identifiers = {spec: ids for spec, ids in minimiser.identifiers.items() if ids}
    hashed_ids = {}
    for hashed_name, value in (("group_id_hash", group_id), ("previous_id_hash", previous_id)):
        hashed_ids[hashed_name] = pii.hashed("external_id", value) if value else ""
    warnings = minimiser.warnings + [
        FieldError("consent", code, "A consent signal could not be read; it counts as absent.")
        for code in consent.errors
    ]
    row = {
        "message_id": message_id,
        "type": event_type,
        "name": name,
        "anonymous_id": anonymous_id,
        "user_id_hash": identifiers.get("meta", {}).get("external_id", "") if user_id else "",
        **hashed_ids,
        "timestamp": timestamp,
        "original_timestamp": original,
        "sent_at": sent_at,
        "properties": properties,
        "traits": traits,
        "context": context,
        "integrations": integrations,
        "identifiers": identifiers,
        "consent": consent_stored,
        "validation": {
            "hashed": minimiser.hashed,
            "removed": minimiser.removed,
            "warnings": [warning.to_dict() for warning in warnings],
        },
    }
    return Prepared(
        index=index,
        message_id=message_id,
        row=row,
        ip=ip,
        user_agent=user_agent[:1024],
        event_name=name,
        warnings=warnings,
        sent_properties=sent_properties,
        sent_traits=sent_traits,
    )
