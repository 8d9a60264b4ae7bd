"""Helpers the adapters share: reading answers (Retry-After, short errors, status → outcome),
batching, scrubbing errors of anything secret, hashing checks and URL shapes. The contract is in
``base``; each platform's rules stay in its own module. No I/O.
"""

import contextlib
import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import orjson

from destinations.adapters.base import Outcome, OutgoingEvent, PlatformRequest
from privacy.pii import is_sha256_hex

ERROR_CHARS = 300  # what redact() keeps of an error
ERROR_BODY_CHARS = 200  # what short_error() keeps of an answer's body
# An event this close to a platform's age limit may cross it on the way (or while queued
# behind a retry), and then it fails the whole request; it is refused a little early instead.
AGE_MARGIN = timedelta(minutes=10)
PROPERTY_RESERVED = frozenset({"event_id"})
MAX_URL_LENGTH = 2048


# --- Answers ------------------------------------------------------------------------------------

_SECONDS = re.compile(r"[0-9]{1,9}(\.[0-9]+)?")


def header_value(headers: dict, name: str) -> str | None:
    wanted = name.lower()
    for key, value in (headers or {}).items():
        if str(key).lower() == wanted:
            return value
    return None


def retry_after_seconds(headers: dict) -> float | None:
    """``Retry-After`` in seconds: delta-seconds or an HTTP date (measured from the answer's
    ``Date`` when it has one, so a skewed local clock does not matter). None when absent."""
    raw = header_value(headers, "Retry-After")
    if raw is None:
        return None
    raw = str(raw).strip()
    if _SECONDS.fullmatch(raw):
        return float(raw)
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    reference = datetime.now(UTC)
    sent = header_value(headers, "Date")
    if sent:
        with contextlib.suppress(TypeError, ValueError, IndexError):
            reference = parsedate_to_datetime(str(sent))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if reference.tzinfo is None:
        reference = reference.replace(tzinfo=UTC)
    return max(0.0, (when - reference).total_seconds())


def batched_requests(
    events: list[OutgoingEvent],
    *,
    now: datetime,
    precheck,
    limit: int,
    url: str,
    headers: dict[str, str],
    body,
) -> list[PlatformRequest]:
    """Requests of at most ``limit`` events, ``body(chunk)`` each (JSON). An event that
    ``precheck`` refuses goes in a request of its own: a platform that fails a whole request
    for one bad event then fails only that one (the engine dead-letters such events before
    ``build``; this is the safety net)."""
    sendable, refused = [], []
    for event in events:
        (refused if precheck(event, now) else sendable).append(event)
    chunks = [sendable[i : i + limit] for i in range(0, len(sendable), limit)]
    chunks += [[event] for event in refused]
    return [
        PlatformRequest(
            url,
            dict(headers),
            orjson.dumps(body(chunk), default=str),
            tuple(event.delivery_id for event in chunk),
        )
        for chunk in chunks
    ]


def short_error(status: int | None, body: bytes, error: str) -> str:
    if status is None:
        return (error or "no answer")[:ERROR_BODY_CHARS]
    text = body.decode("utf-8", "replace").strip().replace("\n", " ")
    return f"HTTP {status}: {text}"[:ERROR_BODY_CHARS] if text else f"HTTP {status}"


def outcome_for_status(status: int | None) -> Outcome:
    """2xx delivered; 408, 429, 5xx and no answer retried; everything else failed."""
    if status is None or status in (408, 429) or status >= 500:
        return Outcome.RETRY
    if 200 <= status < 300:
        return Outcome.DELIVERED
    return Outcome.FAILED


# --- Scrubbing errors, Meta and TikTok ----------------------------------------------------------

# Anything shaped like a credential: "access_token=…" / "Access-Token: …" / "Bearer …", a Meta
# token (EAA…), or a long unbroken run of letters and digits with a lowercase letter in it
# (TikTok tokens are 40 lowercase hex digits). Runs of capitals and digits stay: those are
# trace and request ids (fbtrace_id, TikTok's request_id) that support asks for.
_TOKEN_SHAPES = (
    (re.compile(r"(?i)(access[_-]?token[\"']?\s*[=:]\s*[\"']?)[^\s&\"',;]+"), r"\1[redacted]"),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 [redacted]"),
    (re.compile(r"(?i)\b(oauth)\s+[A-Za-z0-9._~+/=-]{16,}"), r"\1 [redacted]"),
    (re.compile(r"\bEAA[A-Za-z0-9]{8,}"), "[redacted]"),
    (
        re.compile(r"[A-Za-z0-9_\-]{32,}"),
        lambda m: "[redacted]" if re.search("[a-z]", m.group()) else m.group(),
    ),
)


def redact(text: str, secrets=()) -> str:
    """``text`` without the given secrets nor anything token-shaped, on one line, at most
    300 characters: fit for an outcome's ``error``, a log line or the dashboard."""
    text = str(text or "")
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    for pattern, replacement in _TOKEN_SHAPES:
        text = pattern.sub(replacement, text)
    text = " ".join(text.split())
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 1] + "…"


def json_object(body: bytes) -> dict | None:
    try:
        value = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def hashes(value) -> list[str]:
    """The SHA-256 digests in ``value`` (a string or a list of strings), lowercased; anything
    else is dropped, so a plain identifier can never leave by mistake."""
    items = value if isinstance(value, list | tuple) else [value]
    found = []
    for item in items:
        if isinstance(item, str) and is_sha256_hex(item.strip()):
            digest = item.strip().lower()
            if digest not in found:
                found.append(digest)
    return found


def has_hash(value) -> bool:
    """Whether ``hashes(value)`` would find any digest (without collecting them)."""
    if isinstance(value, str):
        return is_sha256_hex(value.strip())
    if isinstance(value, list | tuple):
        for item in value:
            if isinstance(item, str) and is_sha256_hex(item.strip()):
                return True
    return False


def one_or_many(values: list[str]):
    return values[0] if len(values) == 1 else values


def event_time(event: OutgoingEvent, now: datetime) -> int:
    """Unix seconds. A time after ``now`` (a client's clock running ahead) is sent as ``now``."""
    return int(min(event.timestamp, now).timestamp())


def too_old(event: OutgoingEvent, now: datetime, max_age: timedelta) -> str | None:
    age = now - event.timestamp
    if age <= max_age - AGE_MARGIN:
        return None
    days = age.total_seconds() / 86400
    return f"{days:.1f} days old; older than {max_age.days} days"


def base_url_problem(value) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        return "Enter a URL."
    try:
        parts = urlsplit(value)
        _ = parts.port
    except ValueError:
        return "Enter a valid URL."
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "Enter an http(s) URL with a host name."
    if parts.query or parts.fragment or parts.username or parts.password:
        return "Enter the URL without query, fragment or credentials."
    return None


def token_problem(token) -> str | None:
    if not isinstance(token, str) or not token.strip():
        return "An access token is required."
    if token != token.strip() or any(c.isspace() or not c.isprintable() for c in token):
        return "The access token must not contain spaces or invisible characters."
    return None


def url_without_query(url: str) -> str:
    """``url`` without its query and fragment, where click ids (fbclid, gclid, ttclid …) and
    tokens travel."""
    return urlsplit(url)._replace(query="", fragment="").geturl()


def page_fields(event: OutgoingEvent) -> dict:
    """The event's page ``url`` and ``referrer`` (those it has); an anonymized event's lose
    their query and fragment, so no click id leaves with them (docs/privacy-consent.md)."""
    page = {}
    for name, url in (("url", event.page_url), ("referrer", event.referrer)):
        if url:
            page[name] = url_without_query(url) if event.anonymized else url
    return page


def merged_properties(event: OutgoingEvent) -> dict:
    """Custom properties (``properties``) overlaid with the mapped commerce fields."""
    properties = event.properties or {}
    data = {k: v for k, v in properties.items() if k not in PROPERTY_RESERVED and v is not None}
    data.update({k: v for k, v in (event.custom_data or {}).items() if v is not None})
    return data


# --- URLs -----------------------------------------------------------------------------------------

_HOST = re.compile(r"[A-Za-z0-9.\-\[\]:]+")


def url_problem(url: object, *, schemes: tuple[str, ...] = ("https", "http")) -> str | None:
    """Why ``url`` cannot be a delivery URL (None when its shape is usable). Whether http and
    private addresses are allowed is the engine's call (refused in production)."""
    if not isinstance(url, str) or not url.strip():
        return "Enter the URL to deliver to."
    if url != url.strip() or len(url) > MAX_URL_LENGTH:
        return "Enter a URL without surrounding spaces, at most 2048 characters."
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a port that is not a number in range
    except ValueError:
        return "Enter a valid URL."
    if parts.scheme not in schemes:
        return "The URL must start with " + " or ".join(f"{s}://" for s in schemes) + "."
    if not parts.hostname or not _HOST.fullmatch(parts.netloc.rpartition("@")[2]):
        return "The URL has no valid host name."
    if parts.username is not None or parts.password is not None:
        return "Credentials do not belong in the URL; the signature authenticates TrackLayer."
    if parts.fragment:
        return "Remove the #fragment: it is never sent."
    return None
