"""What a destination's settings may be: each field checked and cleaned, every refusal a
``DestinationInvalidError`` naming the field and why (the API's 400 and the form's errors come
from these). The type's own rules come from its adapter; the URLs TrackLayer will send to go
through the egress policy (``tracklayer.http``) here and again at every send.
"""

from urllib.parse import urlsplit

from django.conf import settings

from destinations.adapters import adapter_for
from destinations.exceptions import DestinationInvalidError
from destinations.ingestion.envelope import text_problem as stored_text_problem
from destinations.models import DestinationType
from privacy.consent import DEFAULT_POLICIES, ConsentPolicy, ConsentPolicyError
from tracklayer import http

# A workspace's destinations point at the platforms' real endpoints; outside production a
# destination may name another base URL (the local platform servers of tests and `make run`).
LOCAL_BASE_URL = "api_base_url"
# Secrets a type accepts besides the required ones (the webhook signs with both while its
# receiver rotates): used when the adapter does not list ``optional_secret_fields`` itself.
OPTIONAL_SECRETS = {"webhook": ("previous_signing_secret",)}

NAME_MAX = 100
REASON_MAX = 300
FILTER_MAX = 500  # event names in one filter
MAPPING_MAX = 200  # pairs in one name or property mapping
TOKEN_MAX = 200  # an event name, a platform field, a property path
PROPERTY_ROOT = "properties."  # property mapping values are paths into the event's properties
MAX_CONCURRENCY = 32
MAX_ATTEMPTS = 50

# Names of Segment's e-commerce spec and page calls → each platform's standard events.
DEFAULT_EVENT_MAPPINGS: dict[str, dict[str, str]] = {
    DestinationType.META_CAPI: {
        "Order Completed": "Purchase",
        "Product Added": "AddToCart",
        "Checkout Started": "InitiateCheckout",
        "Product Viewed": "ViewContent",
        "Signed Up": "CompleteRegistration",
        "$page": "PageView",
    },
    # TikTok renamed CompletePayment to Purchase in May 2025 (the old name still works and is
    # converted); "Pageview" is the name the TikTok pixel's page() call sends.
    DestinationType.TIKTOK_EVENTS: {
        "Order Completed": "Purchase",
        "Product Added": "AddToCart",
        "Checkout Started": "InitiateCheckout",
        "Product Viewed": "ViewContent",
        "Signed Up": "CompleteRegistration",
        "$page": "Pageview",
    },
    # GA4's recommended events.
    DestinationType.GA4_MP: {
        "Order Completed": "purchase",
        "Product Added": "add_to_cart",
        "Checkout Started": "begin_checkout",
        "Product Viewed": "view_item",
        "Signed Up": "sign_up",
        "$page": "page_view",
    },
    # A webhook receives TrackLayer's own format: names as the storefront sent them.
    DestinationType.WEBHOOK: {},
}

AUTOPAUSE_FIELDS = {
    "error_rate": "autopause_error_rate",
    "min_attempts": "autopause_min_attempts",
    "window_seconds": "autopause_window_seconds",
}


def text_problem(value: str) -> str | None:
    """Why PostgreSQL could not store ``value`` (a NUL or a lone UTF-16 surrogate), or None.
    The API's serializers refuse both in the fields they type; settings, mappings and their
    keys arrive as free-form JSON and must be checked here, or the save answers 500."""
    problem = stored_text_problem(value)  # ingestion's rule, said the same way
    return problem[1] if problem else None


def invalid(field: str, message: str) -> DestinationInvalidError:
    return DestinationInvalidError({field: message})


def secret_names(kind: str) -> tuple[str, ...]:
    """The secrets a type takes, required ones first."""
    adapter = adapter_for(kind)
    optional = getattr(adapter, "optional_secret_fields", None) or OPTIONAL_SECRETS.get(kind, ())
    return tuple(dict.fromkeys((*adapter.secret_fields, *optional)))


def config_names(kind: str) -> tuple[str, ...]:
    """The type's non-secret settings; the local base URL only outside production."""
    names = tuple(adapter_for(kind).config_fields)
    if settings.IS_PRODUCTION:
        return tuple(name for name in names if name != LOCAL_BASE_URL)
    return names


def check_type(kind) -> str:
    if kind not in DestinationType.values:
        raise invalid("type", f"Choose a destination type: {', '.join(DestinationType.values)}.")
    return kind


def check_name(name) -> str:
    if not isinstance(name, str) or not name.strip():
        raise invalid("name", "Give the destination a name.")
    name = name.strip()
    if len(name) > NAME_MAX:
        raise invalid("name", f"Keep the name to {NAME_MAX} characters.")
    problem = text_problem(name)
    if problem:
        raise invalid("name", f"The name {problem}.")
    return name


def url_refusal(url: str) -> str | None:
    """Why TrackLayer will not send to ``url``, or None when it may: the egress policy
    (``tracklayer.http``, the same check every send makes again against fresh DNS answers),
    and in production https only. Outside production a name that does not resolve yet is let
    through; the send-time check still refuses it while it does not resolve to a public
    address."""
    if settings.IS_PRODUCTION and urlsplit(url).scheme != "https":
        return "The URL must start with https://."
    return http.url_refusal(url, unresolvable_ok=not settings.IS_PRODUCTION)


def check_url_shape(url) -> str | None:
    if not isinstance(url, str) or not url.strip():
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return "Enter a valid URL."
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "Enter an http:// or https:// URL."
    if parts.username is not None or parts.password is not None:
        return "Credentials do not belong in the URL."
    return None


def clean_config(kind: str, config) -> dict:
    if not isinstance(config, dict):
        raise invalid("config", "config must be an object of the type's settings.")
    allowed = config_names(kind)
    cleaned = {}
    for key, value in config.items():
        if key == LOCAL_BASE_URL and settings.IS_PRODUCTION:
            raise invalid(
                LOCAL_BASE_URL,
                "Another base URL is for the local platform servers; production sends to the "
                "platform itself.",
            )
        if key not in allowed:
            raise invalid(str(key), f"{key!r} is not a setting of this destination type.")
        if isinstance(value, str):
            value = value.strip()
            problem = text_problem(value)
            if problem:
                raise invalid(key, f"The setting {problem}.")
        if value in (None, ""):
            continue
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise invalid(key, "Enter text or a whole number.")
        cleaned[key] = value
    return cleaned


def clean_secrets(kind: str, secrets) -> dict[str, str]:
    """Non-empty secrets by name; an empty value means "not given" (on an update: keep)."""
    if secrets is None:
        return {}
    if not isinstance(secrets, dict):
        raise invalid("secrets", "secrets must be an object of the type's secrets.")
    allowed = secret_names(kind)
    cleaned = {}
    for key, value in secrets.items():
        if key not in allowed:
            raise invalid(str(key), f"{key!r} is not a secret of this destination type.")
        if value in (None, ""):
            continue
        if not isinstance(value, str):
            # The value is not repeated: it may be the secret itself.
            raise invalid(key, "A secret is text.")
        cleaned[key] = value.strip()
    return cleaned


def check_settings(kind: str, config: dict, secrets: dict) -> None:
    """The adapter's checks, then the URLs TrackLayer will send to."""
    problems: dict[str, str] = {}
    for field, message in (adapter_for(kind).validate_config(dict(config), secrets) or {}).items():
        problems[field] = message
    urls = [(LOCAL_BASE_URL, config.get(LOCAL_BASE_URL))]
    if kind == DestinationType.WEBHOOK:
        urls.append(("url", config.get("url")))
    for field, url in urls:
        if field in problems or not url:
            continue
        problem = check_url_shape(url) or url_refusal(url)
        if problem:
            problems[field] = problem
    if problems:
        raise DestinationInvalidError(problems)


def check_event_filter(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise invalid("event_filter", "The event filter is a list of event names.")
    names: list[str] = []
    for item in value:
        if not isinstance(item, str) or not item.strip() or len(item.strip()) > TOKEN_MAX:
            raise invalid(
                "event_filter",
                f"Each event name is text of 1–{TOKEN_MAX} characters (or $page, $screen, "
                "$identify …).",
            )
        problem = text_problem(item)
        if problem:
            raise invalid("event_filter", f"An event name {problem}.")
        if item.strip() not in names:
            names.append(item.strip())
    if len(names) > FILTER_MAX:
        raise invalid("event_filter", f"At most {FILTER_MAX} event names.")
    return names


def check_pairs(value, field: str, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid(field, f"The {what} is an object of name → name.")
    if len(value) > MAPPING_MAX:
        raise invalid(field, f"At most {MAPPING_MAX} entries.")
    pairs = {}
    for key, target in value.items():
        if (
            not isinstance(key, str)
            or not isinstance(target, str)
            or not key.strip()
            or not target.strip()
            or len(key.strip()) > TOKEN_MAX
            or len(target.strip()) > TOKEN_MAX
        ):
            raise invalid(field, f"Each entry of the {what} names two non-empty things.")
        problem = text_problem(key) or text_problem(target)
        if problem:
            raise invalid(field, f"An entry of the {what} {problem}.")
        pairs[key.strip()] = target.strip()
    return pairs


def check_property_mapping(value) -> dict[str, str]:
    pairs = check_pairs(value, "property_mapping", "property mapping")
    for target, source in pairs.items():
        if (
            not source.startswith(PROPERTY_ROOT)
            or len(source) == len(PROPERTY_ROOT)
            or "" in source.split(".")
        ):
            raise invalid(
                "property_mapping",
                f"{target}: map it to a path in the event's properties, like properties.total.",
            )
    return pairs


def check_consent_policy(kind: str, value) -> dict:
    """Overrides of the type's policy, checked field by field; stored as given (only the keys
    named), so a later change to the workspace's type policy still applies to the rest."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid("consent_policy", "The consent policy is an object of overrides.")
    try:
        parsed = ConsentPolicy.from_dict(value, base=DEFAULT_POLICIES[kind])
    except ConsentPolicyError as error:
        raise invalid("consent_policy", f"{error.field}: {error.message}") from error
    full = parsed.to_dict()
    return {key: full[key] for key in value}


def check_autopause(value, current: dict | None = None) -> dict:
    """``{"error_rate": 0–1, "min_attempts": n, "window_seconds": s}``; missing keys keep the
    current (or default) values."""
    merged = dict(current or {})
    if value is None:
        return merged
    if not isinstance(value, dict):
        raise invalid("autopause", "Auto-pause is an object: error_rate, min_attempts, window.")
    unknown = set(value) - set(AUTOPAUSE_FIELDS)
    if unknown:
        raise invalid("autopause", f"{sorted(unknown)[0]!r} is not an auto-pause setting.")
    rate = value.get("error_rate", merged.get("error_rate"))
    if rate is not None:
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate <= 1:
            raise invalid(
                "autopause_error_rate", "The error rate is a fraction above 0, at most 1."
            )
        merged["error_rate"] = float(rate)
    attempts = value.get("min_attempts", merged.get("min_attempts"))
    if attempts is not None:
        if (
            isinstance(attempts, bool)
            or not isinstance(attempts, int)
            or not 1 <= attempts <= 100000
        ):
            raise invalid("autopause_min_attempts", "Give a whole number from 1 to 100,000.")
        merged["min_attempts"] = attempts
    window = value.get("window_seconds", merged.get("window_seconds"))
    if window is not None:
        if isinstance(window, bool) or not isinstance(window, int) or not 60 <= window <= 86400:
            raise invalid(
                "autopause_window_seconds", "The window is 60 to 86,400 seconds (1 min – 1 day)."
            )
        merged["window_seconds"] = window
    return merged


def check_int(value, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid(field, f"Give a whole number from {low} to {high}.")
    return value


def auditable(value):
    """Audit payloads take no floats (RFC 8785 canonical JSON): they are written as decimal
    strings ("0.5")."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict):
        return {str(key): auditable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [auditable(item) for item in value]
    return value
