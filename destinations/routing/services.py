"""The destinations control plane: create, edit, pause, resume, delete, and replay dead letters.

Every change runs in one transaction, is authorised by the policy and writes its audit entry in
that same transaction. Secrets (access tokens, API secrets, signing secrets) are stored as JSON
encrypted with the key ring, bound to the destination's public id; they never reach an audit
payload, a log line, an exception message or a page — an audit entry names a secret and says
``{"changed": true}``, nothing more.

Work for the delivery engine (after a resume or a replay) is kicked after commit, so a rolled
back change leaves nothing behind. A deleted destination is soft-deleted: its row stays (its
deliveries and attempts still explain the past), its secrets are wiped, and the engine skips
it — pending deliveries of a deleted destination are never sent (docs/destinations.md).
"""

import logging
from collections import Counter
from urllib.parse import urlsplit

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audit.services import audit_record
from destinations.adapters import adapter_for
from destinations.exceptions import DestinationInvalidError
from destinations.models import (
    Delivery,
    DeliveryStatus,
    Destination,
    DestinationState,
    DestinationType,
)
from privacy.consent import DEFAULT_POLICIES, ConsentPolicy, ConsentPolicyError
from tracklayer import http, keyring
from tracklayer.exceptions import ConflictError, DomainError, NotFoundError
from tracklayer.ids import new_public_id
from workspaces import policy as access
from workspaces.actors import SystemActor

log = logging.getLogger(__name__)

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
REPLAY_AUDIT_IDS = 100  # an audit entry names up to this many replayed deliveries
REPLAY_AUDIT_REASONS = 20

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
# The settings of a destination that an update may change, and how the audit log names them.
UPDATABLE = (
    "name",
    "config",
    "event_filter",
    "event_mapping",
    "property_mapping",
    "consent_policy",
    "autopause",
    "max_concurrency",
    "max_attempts",
)


# --- Secrets ------------------------------------------------------------------------------------


def secrets_context(destination: Destination) -> str:
    """The associated data binding a destination's ciphertext to it (keyring_reencrypt uses
    it too)."""
    return f"destination-secrets:{destination.public_id}"


def _seal(destination: Destination, secrets: dict[str, str]) -> str:
    if not secrets:
        return ""
    plaintext = orjson.dumps(secrets, option=orjson.OPT_SORT_KEYS)
    return keyring.encrypt(plaintext, context=secrets_context(destination))


def destination_secrets(destination: Destination) -> dict[str, str]:
    """The destination's secrets, decrypted (for the delivery engine and test sends only).

    Raises ``tracklayer.keyring.KeyringError`` (whose message carries no secret) when the
    ciphertext cannot be opened — an unknown key, or a ciphertext copied from another row."""
    if not destination.secrets_encrypted:
        return {}
    plaintext = keyring.decrypt(destination.secrets_encrypted, context=secrets_context(destination))
    return orjson.loads(plaintext)


def secret_mask(value: str) -> str:
    """What a page or an API answer shows of a stored secret: its last four characters when
    it is long enough for that to give nothing useful away, else only that it is set."""
    if isinstance(value, str) and len(value) >= 16:
        return "••••" + value[-4:]
    return "set"


def destination_secrets_masked(destination: Destination) -> dict[str, str]:
    return {name: secret_mask(value) for name, value in destination_secrets(destination).items()}


# --- Validation ---------------------------------------------------------------------------------


def _invalid(field: str, message: str) -> DestinationInvalidError:
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


def _check_type(kind) -> str:
    if kind not in DestinationType.values:
        raise _invalid("type", f"Choose a destination type: {', '.join(DestinationType.values)}.")
    return kind


def _check_name(name) -> str:
    if not isinstance(name, str) or not name.strip():
        raise _invalid("name", "Give the destination a name.")
    name = name.strip()
    if len(name) > NAME_MAX:
        raise _invalid("name", f"Keep the name to {NAME_MAX} characters.")
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


def _check_url_shape(url) -> str | None:
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


def _clean_config(kind: str, config) -> dict:
    if not isinstance(config, dict):
        raise _invalid("config", "config must be an object of the type's settings.")
    allowed = config_names(kind)
    cleaned = {}
    for key, value in config.items():
        if key == LOCAL_BASE_URL and settings.IS_PRODUCTION:
            raise _invalid(
                LOCAL_BASE_URL,
                "Another base URL is for the local platform servers; production sends to the "
                "platform itself.",
            )
        if key not in allowed:
            raise _invalid(str(key), f"{key!r} is not a setting of this destination type.")
        if isinstance(value, str):
            value = value.strip()
        if value in (None, ""):
            continue
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise _invalid(key, "Enter text or a whole number.")
        cleaned[key] = value
    return cleaned


def _clean_secrets(kind: str, secrets) -> dict[str, str]:
    """Non-empty secrets by name; an empty value means "not given" (on an update: keep)."""
    if secrets is None:
        return {}
    if not isinstance(secrets, dict):
        raise _invalid("secrets", "secrets must be an object of the type's secrets.")
    allowed = secret_names(kind)
    cleaned = {}
    for key, value in secrets.items():
        if key not in allowed:
            raise _invalid(str(key), f"{key!r} is not a secret of this destination type.")
        if value in (None, ""):
            continue
        if not isinstance(value, str):
            # The value is not repeated: it may be the secret itself.
            raise _invalid(key, "A secret is text.")
        cleaned[key] = value.strip()
    return cleaned


def _check_settings(kind: str, config: dict, secrets: dict) -> None:
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
        problem = _check_url_shape(url) or url_refusal(url)
        if problem:
            problems[field] = problem
    if problems:
        raise DestinationInvalidError(problems)


def _check_event_filter(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise _invalid("event_filter", "The event filter is a list of event names.")
    names: list[str] = []
    for item in value:
        if not isinstance(item, str) or not item.strip() or len(item.strip()) > TOKEN_MAX:
            raise _invalid(
                "event_filter",
                f"Each event name is text of 1–{TOKEN_MAX} characters (or $page, $screen, "
                "$identify …).",
            )
        if item.strip() not in names:
            names.append(item.strip())
    if len(names) > FILTER_MAX:
        raise _invalid("event_filter", f"At most {FILTER_MAX} event names.")
    return names


def _check_pairs(value, field: str, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid(field, f"The {what} is an object of name → name.")
    if len(value) > MAPPING_MAX:
        raise _invalid(field, f"At most {MAPPING_MAX} entries.")
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
            raise _invalid(field, f"Each entry of the {what} names two non-empty things.")
        pairs[key.strip()] = target.strip()
    return pairs


def _check_property_mapping(value) -> dict[str, str]:
    pairs = _check_pairs(value, "property_mapping", "property mapping")
    for target, source in pairs.items():
        if (
            not source.startswith(PROPERTY_ROOT)
            or len(source) == len(PROPERTY_ROOT)
            or "" in source.split(".")
        ):
            raise _invalid(
                "property_mapping",
                f"{target}: map it to a path in the event's properties, like properties.total.",
            )
    return pairs


def _check_consent_policy(kind: str, value) -> dict:
    """Overrides of the type's policy, checked field by field; stored as given (only the keys
    named), so a later change to the workspace's type policy still applies to the rest."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid("consent_policy", "The consent policy is an object of overrides.")
    try:
        parsed = ConsentPolicy.from_dict(value, base=DEFAULT_POLICIES[kind])
    except ConsentPolicyError as error:
        raise _invalid("consent_policy", f"{error.field}: {error.message}") from error
    full = parsed.to_dict()
    return {key: full[key] for key in value}


def _check_autopause(value, current: dict | None = None) -> dict:
    """``{"error_rate": 0–1, "min_attempts": n, "window_seconds": s}``; missing keys keep the
    current (or default) values."""
    merged = dict(current or {})
    if value is None:
        return merged
    if not isinstance(value, dict):
        raise _invalid("autopause", "Auto-pause is an object: error_rate, min_attempts, window.")
    unknown = set(value) - set(AUTOPAUSE_FIELDS)
    if unknown:
        raise _invalid("autopause", f"{sorted(unknown)[0]!r} is not an auto-pause setting.")
    rate = value.get("error_rate", merged.get("error_rate"))
    if rate is not None:
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate <= 1:
            raise _invalid(
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
            raise _invalid("autopause_min_attempts", "Give a whole number from 1 to 100,000.")
        merged["min_attempts"] = attempts
    window = value.get("window_seconds", merged.get("window_seconds"))
    if window is not None:
        if isinstance(window, bool) or not isinstance(window, int) or not 60 <= window <= 86400:
            raise _invalid(
                "autopause_window_seconds", "The window is 60 to 86,400 seconds (1 min – 1 day)."
            )
        merged["window_seconds"] = window
    return merged


def _check_int(value, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _invalid(field, f"Give a whole number from {low} to {high}.")
    return value


# --- Audit payloads -------------------------------------------------------------------------------


def _auditable(value):
    """Audit payloads take no floats (RFC 8785 canonical JSON): they are written as decimal
    strings ("0.5")."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict):
        return {str(key): _auditable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_auditable(item) for item in value]
    return value


def _autopause_of(destination: Destination) -> dict:
    return {key: getattr(destination, column) for key, column in AUTOPAUSE_FIELDS.items()}


def _settings_of(destination: Destination) -> dict:
    """Every non-secret setting, as the audit log and the API name them."""
    return {
        "name": destination.name,
        "config": dict(destination.config),
        "event_filter": list(destination.event_filter),
        "event_mapping": dict(destination.event_mapping),
        "property_mapping": dict(destination.property_mapping),
        "consent_policy": dict(destination.consent_policy),
        "autopause": _autopause_of(destination),
        "max_concurrency": destination.max_concurrency,
        "max_attempts": destination.max_attempts,
    }


def _locked(*, workspace, destination: Destination) -> Destination:
    """The destination's row, locked for this transaction; NotFound when it is another
    workspace's or deleted."""
    row = (
        Destination.objects.select_for_update()
        .filter(pk=destination.pk, workspace=workspace, deleted_at__isnull=True)
        .first()
    )
    if row is None:
        raise NotFoundError("No such destination in this workspace.")
    return row


def _kick_after_commit(destination_ids) -> None:
    """Tell the delivery engine there is work, once the change is committed."""
    ids = sorted(set(destination_ids))

    def kick() -> None:
        try:
            from destinations.delivery import delivery_kick
        except ImportError:  # the engine is not installed yet
            return
        for destination_id in ids:
            delivery_kick(destination_id=destination_id)

    if ids:
        # robust: a broker that is down must not turn a committed change into an error page;
        # the engine's periodic sweep finds the work anyway.
        transaction.on_commit(kick, robust=True)


# --- Services -----------------------------------------------------------------------------------


@transaction.atomic
def destination_create(
    *,
    workspace,
    actor,
    type: str,
    name: str,
    config: dict,
    secrets: dict,
    event_filter=(),
    event_mapping: dict | None = None,
    property_mapping: dict | None = None,
    consent_policy: dict | None = None,
    autopause: dict | None = None,
    max_concurrency: int | None = None,
) -> Destination:
    """Create a destination, active at once. Its settings are checked by the type's adapter
    (``DestinationInvalidError`` names each bad field); without an event mapping it gets the
    type's standard one. The audit entry lists the non-secret settings and the secrets' names."""
    access.authorize(workspace=workspace, actor=actor, action=access.Action.ROUTING_EDIT)
    kind = _check_type(type)
    destination = Destination(
        public_id=new_public_id("dst"),
        workspace=workspace,
        type=kind,
        name=_check_name(name),
        config=_clean_config(kind, config),
        event_filter=_check_event_filter(event_filter),
        event_mapping=_check_pairs(
            dict(DEFAULT_EVENT_MAPPINGS[kind]) if event_mapping is None else event_mapping,
            "event_mapping",
            "name mapping",
        ),
        property_mapping=_check_property_mapping(property_mapping),
        consent_policy=_check_consent_policy(kind, consent_policy),
    )
    for key, value in _check_autopause(autopause, _autopause_of(destination)).items():
        setattr(destination, AUTOPAUSE_FIELDS[key], value)
    if max_concurrency is not None:
        destination.max_concurrency = _check_int(
            max_concurrency, "max_concurrency", 1, MAX_CONCURRENCY
        )
    clean_secrets = _clean_secrets(kind, secrets)
    _check_settings(kind, destination.config, clean_secrets)
    destination.secrets_encrypted = _seal(destination, clean_secrets)
    destination.save()
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="destination.created",
        resource_type="destination",
        resource_id=destination.public_id,
        payload=_auditable(
            {"type": kind, **_settings_of(destination), "secrets": sorted(clean_secrets)}
        ),
    )
    return destination


@transaction.atomic
def destination_update(
    *, workspace, actor, destination: Destination, values: dict, secrets: dict | None = None
) -> Destination:
    """Change some settings (``values``: any of ``UPDATABLE``) and secrets. ``config`` is
    merged into the stored one (a key set to "" or None is removed); a secret left empty keeps
    the stored one. The audit entry names each changed setting with its value before and after
    — config keys one by one — and each changed secret only as ``{"changed": true}``."""
    access.authorize(workspace=workspace, actor=actor, action=access.Action.ROUTING_EDIT)
    row = _locked(workspace=workspace, destination=destination)
    values = dict(values or {})
    unknown = sorted(set(values) - set(UPDATABLE))
    if unknown:
        raise _invalid(unknown[0], f"{unknown[0]!r} cannot be changed.")
    kind = row.type
    before = _settings_of(row)

    if "name" in values:
        row.name = _check_name(values["name"])
    if "config" in values:
        if not isinstance(values["config"], dict):
            raise _invalid("config", "config must be an object of the type's settings.")
        row.config = _clean_config(kind, {**row.config, **values["config"]})
    if "event_filter" in values:
        row.event_filter = _check_event_filter(values["event_filter"])
    if "event_mapping" in values:
        row.event_mapping = _check_pairs(values["event_mapping"], "event_mapping", "name mapping")
    if "property_mapping" in values:
        row.property_mapping = _check_property_mapping(values["property_mapping"])
    if "consent_policy" in values:
        row.consent_policy = _check_consent_policy(kind, values["consent_policy"])
    if "autopause" in values:
        for key, value in _check_autopause(values["autopause"], _autopause_of(row)).items():
            setattr(row, AUTOPAUSE_FIELDS[key], value)
    if "max_concurrency" in values:
        row.max_concurrency = _check_int(
            values["max_concurrency"], "max_concurrency", 1, MAX_CONCURRENCY
        )
    if "max_attempts" in values:
        row.max_attempts = _check_int(values["max_attempts"], "max_attempts", 1, MAX_ATTEMPTS)

    stored = destination_secrets(row)
    given = _clean_secrets(kind, secrets)
    merged = {**stored, **given}
    changed_secrets = sorted(name for name, value in given.items() if stored.get(name) != value)
    _check_settings(kind, row.config, merged)

    after = _settings_of(row)
    changes: dict[str, dict] = {}
    for field in UPDATABLE:
        if field == "config":
            for key in sorted(set(before["config"]) | set(after["config"])):
                old, new = before["config"].get(key), after["config"].get(key)
                if old != new:
                    changes[f"config.{key}"] = {"before": old, "after": new}
        elif field == "autopause":
            for key in AUTOPAUSE_FIELDS:
                old, new = before["autopause"][key], after["autopause"][key]
                if old != new:
                    changes[f"autopause.{key}"] = {"before": old, "after": new}
        elif before[field] != after[field]:
            changes[field] = {"before": before[field], "after": after[field]}
    for name in changed_secrets:
        changes[f"secrets.{name}"] = {"changed": True}

    if not changes:
        return row
    if changed_secrets:
        row.secrets_encrypted = _seal(row, merged)
    row.save()
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="destination.updated",
        resource_type="destination",
        resource_id=row.public_id,
        payload=_auditable({"changes": changes}),
    )
    return row


@transaction.atomic
def destination_pause(
    *, workspace, actor, destination: Destination, reason: str = ""
) -> Destination:
    """Stop sending to the destination; its deliveries wait (within the platforms' age
    limits) until it is resumed. Pausing a paused destination is a ``ConflictError``."""
    access.authorize(workspace=workspace, actor=actor, action=access.Action.OPERATIONS_EDIT)
    row = _locked(workspace=workspace, destination=destination)
    if row.state == DestinationState.PAUSED:
        raise ConflictError(f"{row.name} is already paused.")
    reason = (reason or "").strip()
    if len(reason) > REASON_MAX:
        raise _invalid("reason", f"Keep the reason to {REASON_MAX} characters.")
    row.state = DestinationState.PAUSED
    row.paused_at = timezone.now()
    row.paused_automatically = False
    row.paused_reason = reason or "Paused by hand."
    row.save(
        update_fields=["state", "paused_at", "paused_automatically", "paused_reason", "updated_at"]
    )
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="destination.paused",
        resource_type="destination",
        resource_id=row.public_id,
        payload={"automatic": False, "reason": reason},
    )
    return row


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0 and seconds >= 3600:
        hours = seconds // 3600
        return f"{hours} hour{'s' if hours != 1 else ''}"
    if seconds % 60 == 0:
        minutes = seconds // 60
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds} seconds"


def autopause_reason(figures: dict) -> str:
    """The sentence the dashboard shows for an automatic pause, from the engine's figures
    (``failed_requests``/``requests`` or ``failures``/``attempts``, ``window_seconds``)."""
    if "requests" in figures:
        failed, total, unit = figures.get("failed_requests", 0), figures["requests"], "requests"
    else:
        failed, total, unit = figures.get("failures", 0), figures.get("attempts", 0), "attempts"
    text = f"Paused automatically: {failed} of {total} {unit} failed"
    if total:
        text += f" ({round(100 * failed / total)} %)"
    window = figures.get("window_seconds")
    if isinstance(window, int) and window > 0:
        text += f" in the last {_duration(window)}"
    return text + "."


@transaction.atomic
def destination_autopause(*, destination: Destination, figures: dict) -> bool:
    """The delivery engine's pause of a destination whose error rate crossed its threshold:
    acted by ``system:delivery``, audited as ``destination.paused`` with ``automatic: true``
    and the figures, and explained on the dashboard. Returns False (and does nothing) when the
    destination is already paused or was deleted meanwhile — two workers may both see the
    threshold crossed. Under an advisory lock it raises like every audited change."""
    row = (
        Destination.objects.select_for_update()
        .filter(pk=destination.pk, deleted_at__isnull=True)
        .select_related("workspace")
        .first()
    )
    if row is None or row.state == DestinationState.PAUSED:
        return False
    row.state = DestinationState.PAUSED
    row.paused_at = timezone.now()
    row.paused_automatically = True
    row.paused_reason = autopause_reason(figures)[:REASON_MAX]
    row.save(
        update_fields=["state", "paused_at", "paused_automatically", "paused_reason", "updated_at"]
    )
    audit_record(
        workspace=row.workspace,
        actor=SystemActor("delivery"),
        event_type="destination.paused",
        resource_type="destination",
        resource_id=row.public_id,
        payload=_auditable({**figures, "automatic": True, "reason": row.paused_reason}),
    )
    log.warning("destination %s paused automatically: %s", row.public_id, row.paused_reason)
    return True


@transaction.atomic
def destination_resume(*, workspace, actor, destination: Destination) -> Destination:
    """Send again: the pause is lifted, the circuit breaker closed, and the engine told (after
    commit) that the waiting deliveries are due. Resuming an active one is a ``ConflictError``."""
    access.authorize(workspace=workspace, actor=actor, action=access.Action.OPERATIONS_EDIT)
    row = _locked(workspace=workspace, destination=destination)
    if row.state != DestinationState.PAUSED:
        raise ConflictError(f"{row.name} is not paused.")
    paused_for = int((timezone.now() - row.paused_at).total_seconds()) if row.paused_at else None
    payload = {
        "was_automatic": row.paused_automatically,
        "paused_reason": row.paused_reason,
        "paused_seconds": paused_for,
    }
    row.state = DestinationState.ACTIVE
    row.paused_at = None
    row.resumed_at = timezone.now()  # auto-pause judges only what happens from here on
    row.paused_automatically = False
    row.paused_reason = ""
    row.consecutive_failures = 0
    row.circuit_open_until = None
    row.save(
        update_fields=[
            "state",
            "paused_at",
            "resumed_at",
            "paused_automatically",
            "paused_reason",
            "consecutive_failures",
            "circuit_open_until",
            "updated_at",
        ]
    )
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="destination.resumed",
        resource_type="destination",
        resource_id=row.public_id,
        payload=payload,
    )
    _kick_after_commit([row.pk])
    return row


def destination_test(*, workspace, actor, destination: Destination) -> dict | None:
    """Send one synthetic event to the platform (the engine's ``destination_test_send``) and
    return its answer: ``{"ok", "status", "error", "latency_ms"}``. Nothing is stored or
    audited. None while the delivery engine is not installed."""
    access.authorize(workspace=workspace, actor=actor, action=access.Action.OPERATIONS_EDIT)
    if destination.workspace_id != workspace.pk or destination.deleted_at is not None:
        raise NotFoundError("No such destination in this workspace.")
    try:
        from destinations.delivery import destination_test_send
    except ImportError:
        return None
    return destination_test_send(destination=destination)


@transaction.atomic
def destination_delete(*, workspace, actor, destination: Destination) -> Destination:
    """Soft-delete: the row stays for the history its deliveries tell, its secrets are wiped,
    nothing is sent to it again. Its pending deliveries stay pending and are skipped by the
    engine (they are counted in the audit entry)."""
    access.authorize(workspace=workspace, actor=actor, action=access.Action.ROUTING_EDIT)
    row = _locked(workspace=workspace, destination=destination)
    pending = Delivery.objects.filter(destination=row, status=DeliveryStatus.PENDING).count()
    row.deleted_at = timezone.now()
    row.secrets_encrypted = ""
    row.save(update_fields=["deleted_at", "secrets_encrypted", "updated_at"])
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="destination.deleted",
        resource_type="destination",
        resource_id=row.public_id,
        payload={"name": row.name, "type": row.type, "pending_deliveries": pending},
    )
    return row


@transaction.atomic
def deliveries_replay(
    *, workspace, actor, destination: Destination | None = None, delivery_ids=None
) -> int:
    """Send dead letters again: each named dead delivery (``delivery_ids``), or every dead
    delivery of ``destination`` (or both: the named ones of that destination), goes back to
    pending with its attempts reset, due now. Deliveries that are not dead, of another
    workspace or of a deleted destination are left alone. One ``delivery.replayed`` entry
    records how many, which (the first 100 ids) and why they had died. Returns the count."""
    access.authorize(workspace=workspace, actor=actor, action=access.Action.OPERATIONS_EDIT)
    if destination is None and delivery_ids is None:
        raise DomainError("Name a destination or the deliveries to replay.", field="deliveries")
    deliveries = Delivery.objects.filter(
        workspace=workspace, status=DeliveryStatus.DEAD, destination__deleted_at__isnull=True
    )
    if destination is not None:
        if destination.workspace_id != workspace.pk or destination.deleted_at is not None:
            raise NotFoundError("No such destination in this workspace.")
        deliveries = deliveries.filter(destination=destination)
    if delivery_ids is not None:
        ids = list(delivery_ids)
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise DomainError("Delivery ids are whole numbers.", field="deliveries")
        if not ids:
            return 0
        deliveries = deliveries.filter(pk__in=ids)

    picked_sql, params = deliveries.values("pk").query.sql_with_params()
    table = Delivery._meta.db_table
    now = timezone.now()
    with connection.cursor() as cursor:
        # One statement: lock the dead letters, put them back in the queue, and hand back what
        # they were — an UPDATE's RETURNING alone sees only the new values.
        cursor.execute(
            f"""
            WITH picked AS (
                SELECT id, dead_reason FROM {table}
                WHERE id IN ({picked_sql}) AND status = %s
                ORDER BY id FOR UPDATE
            )
            UPDATE {table} AS d
            SET status = %s, attempts = 0, next_attempt_at = %s, dead_reason = '',
                updated_at = %s
            FROM picked WHERE d.id = picked.id
            RETURNING d.id, d.destination_id, picked.dead_reason
            """,  # noqa: S608 - the table name is the model's; values are parameters
            [*params, DeliveryStatus.DEAD, DeliveryStatus.PENDING, now, now],
        )
        replayed = sorted(cursor.fetchall())
    if not replayed:
        return 0

    destination_ids = {row[1] for row in replayed}
    reasons = Counter(row[2] or "(no reason recorded)" for row in replayed)
    payload = {
        "count": len(replayed),
        "deliveries": [
            {"id": pk, "dead_reason": reason} for pk, _d, reason in replayed[:REPLAY_AUDIT_IDS]
        ],
        "reasons": dict(reasons.most_common(REPLAY_AUDIT_REASONS)),
    }
    if len(replayed) > REPLAY_AUDIT_IDS:
        payload["more"] = len(replayed) - REPLAY_AUDIT_IDS
    if destination is not None or len(destination_ids) == 1:
        target = destination or Destination.objects.get(pk=next(iter(destination_ids)))
        resource_type, resource_id = "destination", target.public_id
    else:
        resource_type, resource_id = "workspace", workspace.public_id
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="delivery.replayed",
        resource_type=resource_type,
        resource_id=resource_id,
        payload=payload,
    )
    _kick_after_commit(destination_ids)
    return len(replayed)
