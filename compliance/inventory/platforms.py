"""What each destination type sends about a person: its identifiers (hashed or not) and the
categories of data its requests carry — the inventory's "data categories and identifiers".

The adapters are the source: each adapter module's guarantees say what leaves, and Meta's
adapter declares its hashed customer fields (``meta.HASHED_FIELDS``), read here as they are.
An adapter that declares ``identifiers`` itself (``((name, hashed), …)``; a change to the
adapters proposed with this module) is read instead of the table below, so the table is only
the reading of the adapters' docstrings until they all declare it; then it goes.

Whatever the table says, a consent decision of "deliver without identifiers" sends none of
the identifiers (``OutgoingEvent.anonymized``), and an IP address purged by retention is
not sent either.
"""

from dataclasses import dataclass

from destinations.adapters import adapter_for, meta
from destinations.models import DestinationType


@dataclass(frozen=True, slots=True)
class Identifier:
    name: str  # as the platform's request names it
    hashed: bool  # SHA-256 (privacy.pii) before it leaves


# Categories of data, in the words of a record of processing activities.
CONTACT = "contact details (e-mail, phone, name)"
DEMOGRAPHIC = "demographic data (gender, date of birth)"
LOCATION = "location (city, region, postal code, country)"
ONLINE_IDS = "online identifiers (user id, cookie and click ids)"
DEVICE = "device and network data (IP address, user agent)"
EVENTS = "behavioural events (event name, time, page URL)"
COMMERCE = "purchase data (value, currency, products)"
CONSENT = "consent signals"
PROPERTIES = "every event property as sent by the storefront"

_META_NOT_HASHED = ("client_ip_address", "client_user_agent", "fbc", "fbp")

# The adapters' guarantees, read (destinations/adapters/<type>.py, module docstrings).
_IDENTIFIERS: dict[str, tuple[Identifier, ...]] = {
    DestinationType.META_CAPI: (
        *(Identifier(name, True) for name in meta.HASHED_FIELDS),
        *(Identifier(name, False) for name in _META_NOT_HASHED),
    ),
    DestinationType.TIKTOK_EVENTS: (
        Identifier("email", True),
        Identifier("phone", True),
        Identifier("external_id", True),
        Identifier("ip", False),
        Identifier("user_agent", False),
        Identifier("ttclid", False),
        Identifier("ttp", False),
    ),
    DestinationType.GA4_MP: (
        # the hashed external id (ga4.py: "user_id is the hashed external id")
        Identifier("user_id", True),
        Identifier("sha256_email_address", True),
        Identifier("sha256_phone_number", True),
        Identifier("address.sha256_first_name", True),
        Identifier("address.sha256_last_name", True),
        # the GA tag's own client id, or one derived by SHA-256 from the anonymous id
        Identifier("client_id", False),
        Identifier("ip_override", False),
        Identifier("user_agent", False),
    ),
    DestinationType.WEBHOOK: (
        Identifier("identifiers.externalId", True),
        Identifier("identifiers.userData", True),  # Meta-normalised SHA-256 (webhook.spec)
        Identifier("identifiers.anonymousId", False),
        Identifier("identifiers.clickIds", False),
        Identifier("context.ip", False),
        Identifier("context.userAgent", False),
    ),
}

_CATEGORIES: dict[str, tuple[str, ...]] = {
    DestinationType.META_CAPI: (
        CONTACT,
        DEMOGRAPHIC,
        LOCATION,
        ONLINE_IDS,
        DEVICE,
        EVENTS,
        COMMERCE,
    ),
    DestinationType.TIKTOK_EVENTS: (CONTACT, ONLINE_IDS, DEVICE, EVENTS, COMMERCE),
    DestinationType.GA4_MP: (CONTACT, ONLINE_IDS, DEVICE, EVENTS, COMMERCE, CONSENT),
    DestinationType.WEBHOOK: (CONTACT, ONLINE_IDS, DEVICE, EVENTS, PROPERTIES, CONSENT),
}


def identifiers_of(kind: str) -> list[dict]:
    """``[{"name", "hashed"}]`` for a destination type, hashed ones first."""
    adapter = adapter_for(kind)
    declared = getattr(adapter, "identifiers", None)
    found = (
        tuple(Identifier(name, bool(hashed)) for name, hashed in declared)
        if declared
        else _IDENTIFIERS[kind]
    )
    ordered = sorted(found, key=lambda item: (not item.hashed,))
    return [{"name": item.name, "hashed": item.hashed} for item in ordered]


def data_categories_of(kind: str) -> list[str]:
    adapter = adapter_for(kind)
    declared = getattr(adapter, "data_categories", None)
    return list(declared) if declared else list(_CATEGORIES[kind])
