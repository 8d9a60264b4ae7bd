"""The consent firewall: read an event's consent signals, then decide per destination.

``consent_capture`` reads every common signal from an event's ``context`` (and the request's
``Sec-GPC`` header) into ``ConsentSignals``; it never raises — a malformed signal becomes an
entry in ``errors`` and counts as absent. ``decide`` is a pure function of the signals, the
destination's ``ConsentPolicy`` and the visitor's ``Jurisdiction``; it returns a ``Decision``
whose reasons are stable codes, stored with every delivery so that an auditor can see why an
event went out, went out without identifiers, or did not.

The rules (docs/privacy-consent.md has them with their sources):

1. An explicit refusal is honoured everywhere: a TCF string without a required purpose or
   vendor, a denied Consent Mode signal or category the policy needs, the US Privacy string's
   opt-out of sale for a destination that sells or shares data.
2. Global Privacy Control blocks a sale/share destination wherever the jurisdiction honours
   it (opt-out states whose law makes GPC binding, and opt-in regimes, where it is an
   objection by automated means).
3. In an opt-in regime, a destination with requirements needs at least one signal that grants
   all of them; without one the policy's ``on_missing`` applies (block, or deliver without
   identifiers where the platform accepts that).
4. In opt-out and no-law regimes, the absence of a signal is not a refusal.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from privacy import pii
from privacy.jurisdictions import Jurisdiction, Regime, jurisdiction_for
from privacy.tcf import TCData, TCStringError
from privacy.tcf import decode as tcf_decode

CONSENT_MODE_SIGNALS = ("ad_storage", "analytics_storage", "ad_user_data", "ad_personalization")
# TrackLayer's own category names, which a workspace maps its CMP's names onto.
CATEGORIES = ("necessary", "functional", "analytics", "advertising", "personalization")
TCF_PURPOSES = range(1, 12)  # TCF v2.2 defines purposes 1–11


class ConsentAction(StrEnum):
    DELIVER = "deliver"
    DELIVER_ANONYMIZED = "deliver_anonymized"
    BLOCK = "block"


class OnMissing(StrEnum):
    BLOCK = "block"
    DELIVER_ANONYMIZED = "deliver_anonymized"


# --- Signals -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConsentSignals:
    """What an event said about consent. Absent signals are None / empty."""

    tcf_string: str | None = None
    tcf: TCData | None = field(default=None, compare=False, repr=False)
    consent_mode: Mapping[str, bool] = field(default_factory=dict)  # signal -> granted
    gpc: bool = False
    us_privacy: str | None = None  # a valid CCPA US Privacy string, e.g. "1YYN"
    categories: Mapping[str, bool] = field(default_factory=dict)  # TrackLayer's names
    country: str | None = None  # ISO 3166-1 alpha-2, upper case
    region: str | None = None  # US state code, upper case
    errors: tuple[str, ...] = ()  # malformed signals, as codes ("tcf_invalid:truncated")

    @property
    def us_privacy_opt_out(self) -> bool:
        return self.us_privacy is not None and self.us_privacy[2] == "Y"

    def to_dict(self) -> dict:
        """JSON for storage with the event; ``from_dict`` reads it back."""
        return {
            "tcf_string": self.tcf_string,
            "consent_mode": dict(self.consent_mode),
            "gpc": self.gpc,
            "us_privacy": self.us_privacy,
            "categories": dict(self.categories),
            "country": self.country,
            "region": self.region,
            "errors": list(self.errors),
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> "ConsentSignals":
        tc_string = data.get("tcf_string")
        decoded = None
        if tc_string:
            try:
                decoded = tcf_decode(tc_string)
            except TCStringError:
                decoded = None  # its error is already among ``errors``
        return cls(
            tcf_string=tc_string,
            tcf=decoded,
            consent_mode=dict(data.get("consent_mode") or {}),
            gpc=bool(data.get("gpc")),
            us_privacy=data.get("us_privacy"),
            categories=dict(data.get("categories") or {}),
            country=data.get("country"),
            region=data.get("region"),
            errors=tuple(data.get("errors") or ()),
        )


# Where the signals are looked for, first match wins (docs/privacy-consent.md lists them).
TCF_PATHS = (
    ("consent", "tcString"),
    ("consent", "tcfString"),
    ("consent", "tcf"),
    ("consent", "gdprConsent"),
    ("consent", "gdpr_consent"),
    ("tcString",),
    ("gdpr_consent",),
)
CONSENT_MODE_PATHS = (
    ("consent", "consentMode"),
    ("consent", "googleConsentMode"),
    ("consent", "consent_mode"),
    ("consentMode",),
    ("consent_mode",),
)
GCS_PATHS = (("consent", "gcs"), ("gcs",))
GPC_PATHS = (
    ("consent", "gpc"),
    ("consent", "globalPrivacyControl"),
    ("gpc",),
    ("globalPrivacyControl",),
)
US_PRIVACY_PATHS = (
    ("consent", "usPrivacy"),
    ("consent", "us_privacy"),
    ("consent", "uspString"),
    ("usPrivacy",),
    ("us_privacy",),
)
CATEGORY_PATHS = (("consent", "categoryPreferences"),)


def _lookup(context: Mapping, paths) -> tuple[tuple[str, ...] | None, object]:
    for path in paths:
        node: object = context
        for key in path:
            node = node.get(key) if isinstance(node, Mapping) else None
            if node is None:
                break
        if node is not None:
            return path, node
    return None, None


def _granted(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return {"granted": True, "denied": False, "true": True, "false": False}.get(
            value.strip().lower()
        )
    return None


def _header(headers: Mapping | None, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    if value is None:
        value = headers.get("HTTP_" + name.upper().replace("-", "_"))  # request.META
    return value if isinstance(value, str) else None


def _consent_mode(context: Mapping, errors: list[str]) -> dict[str, bool]:
    result: dict[str, bool] = {}
    _, gcs = _lookup(context, GCS_PATHS)
    if gcs is not None:
        # The gcs parameter of Google's tags: "G1" then ad_storage, analytics_storage as
        # 1 (granted), 0 (denied) or - (not set).
        if (
            isinstance(gcs, str)
            and len(gcs) == 4
            and gcs[:2] == "G1"
            and set(gcs[2:]) <= set("01-")
        ):
            for name, char in zip(("ad_storage", "analytics_storage"), gcs[2:], strict=True):
                if char != "-":
                    result[name] = char == "1"
        else:
            errors.append("consent_mode_invalid:gcs")
    _, mode = _lookup(context, CONSENT_MODE_PATHS)
    if mode is None:
        return result
    if not isinstance(mode, Mapping):
        errors.append("consent_mode_invalid")
        return result
    for name in CONSENT_MODE_SIGNALS:
        if name in mode:
            granted = _granted(mode[name])
            if granted is None:
                errors.append(f"consent_mode_invalid:{name}")
            else:
                result[name] = granted
    return result


def _categories(context: Mapping, mapping: Mapping[str, str], errors: list[str]) -> dict[str, bool]:
    _, preferences = _lookup(context, CATEGORY_PATHS)
    if preferences is None:
        return {}
    if not isinstance(preferences, Mapping):
        errors.append("categories_invalid")
        return {}
    lowered = {str(key).strip().lower(): value for key, value in mapping.items()}
    result: dict[str, bool] = {}
    for name, value in preferences.items():
        key = str(name).strip()
        category = mapping.get(key) or lowered.get(key.lower()) or key.lower()
        granted = _granted(value)
        if granted is None:
            errors.append(f"category_invalid:{key[:40]}")
            continue
        # Two CMP categories mapped onto one of ours: a refusal of either is a refusal.
        result[category] = result.get(category, True) and granted
    return result


def _us_privacy(context: Mapping, errors: list[str]) -> str | None:
    _, value = _lookup(context, US_PRIVACY_PATHS)
    if value is None:
        return None
    # IAB CCPA US Privacy string v1: version "1", then notice given, opted out of sale,
    # LSPA covered — each Y, N or "-" (not applicable).
    if (
        isinstance(value, str)
        and len(value) == 4
        and value[0] == "1"
        and all(char in "YN-" for char in value[1:].upper())
    ):
        return value.upper()
    errors.append("us_privacy_invalid")
    return None


def _location(context: Mapping, errors: list[str]) -> tuple[str | None, str | None]:
    location = context.get("location")
    if not isinstance(location, Mapping):
        return None, None
    country = region = None
    raw_country = location.get("country")
    if isinstance(raw_country, str) and raw_country.strip():
        try:
            country = pii.normalize("country", raw_country).upper()
        except pii.PIIValueError:
            errors.append("country_unknown")
    raw_region = location.get("region")
    if country == "US" and isinstance(raw_region, str) and raw_region.strip():
        value = raw_region.strip().upper().removeprefix("US-")
        try:
            region = pii.normalize("st", value).upper()
        except pii.PIIValueError:
            errors.append("region_unknown")
        else:
            if len(region) != 2:
                errors.append("region_unknown")
                region = None
    return country, region


def consent_capture(
    context: object,
    *,
    headers: Mapping | None = None,
    category_mapping: Mapping[str, str] | None = None,
) -> ConsentSignals:
    """Every consent signal in an event's ``context``, plus ``Sec-GPC: 1`` from ``headers``.

    Never raises: what cannot be read is listed in ``errors`` and treated as absent.
    """
    context = context if isinstance(context, Mapping) else {}
    errors: list[str] = []

    tc_string = decoded = None
    _, raw_tcf = _lookup(context, TCF_PATHS)
    if raw_tcf is not None:
        if isinstance(raw_tcf, str) and raw_tcf.strip():
            try:
                decoded = tcf_decode(raw_tcf.strip())
                tc_string = raw_tcf.strip()
            except TCStringError as error:
                errors.append(f"tcf_invalid:{error.code}")
        else:
            errors.append("tcf_invalid:empty")

    _, raw_gpc = _lookup(context, GPC_PATHS)
    gpc = raw_gpc is True or (isinstance(raw_gpc, str) and raw_gpc.strip() in {"1", "true"})
    gpc = gpc or (_header(headers, "Sec-GPC") or "").strip() == "1"

    country, region = _location(context, errors)
    return ConsentSignals(
        tcf_string=tc_string,
        tcf=decoded,
        consent_mode=_consent_mode(context, errors),
        gpc=gpc,
        us_privacy=_us_privacy(context, errors),
        categories=_categories(context, category_mapping or {}, errors),
        country=country,
        region=region,
        errors=tuple(errors),
    )


# --- Policies ----------------------------------------------------------------------------------


class ConsentPolicyError(ValueError):
    def __init__(self, message: str, *, field: str):
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True, slots=True)
class ConsentPolicy:
    """What one destination needs before an event may reach it."""

    tcf_purposes: frozenset[int] = frozenset()  # TCF purposes that need consent
    tcf_vendor_id: int | None = None  # the platform's IAB Global Vendor List id
    consent_mode: frozenset[str] = frozenset()  # Consent Mode signals that must be granted
    consent_mode_identifiers: frozenset[str] = frozenset()  # denied → without identifiers
    categories: frozenset[str] = frozenset()  # TrackLayer categories that must be granted
    on_missing: OnMissing = OnMissing.BLOCK  # opt-in regime, no signal at all
    anonymized_allowed: bool = False  # the platform accepts events without identifiers
    sells_or_shares: bool = True  # a "sale or sharing" under US state laws

    @property
    def has_requirements(self) -> bool:
        return bool(
            self.tcf_purposes
            or self.tcf_vendor_id
            or self.consent_mode
            or self.consent_mode_identifiers
            or self.categories
        )

    def to_dict(self) -> dict:
        return {
            "tcf_purposes": sorted(self.tcf_purposes),
            "tcf_vendor_id": self.tcf_vendor_id,
            "consent_mode": sorted(self.consent_mode),
            "consent_mode_identifiers": sorted(self.consent_mode_identifiers),
            "categories": sorted(self.categories),
            "on_missing": str(self.on_missing),
            "anonymized_allowed": self.anonymized_allowed,
            "sells_or_shares": self.sells_or_shares,
        }

    @classmethod
    def from_dict(cls, data: Mapping, *, base: "ConsentPolicy | None" = None) -> "ConsentPolicy":
        """A policy from JSON, checked field by field; missing keys come from ``base``."""
        base = base or cls()
        unknown = set(data) - set(base.to_dict())
        if unknown:
            name = sorted(unknown)[0]
            raise ConsentPolicyError(f"Unknown policy setting {name!r}.", field=name)

        def ints(name: str, allowed) -> frozenset[int]:
            value = data.get(name, getattr(base, name))
            if not isinstance(value, list | tuple | set | frozenset) or not all(
                isinstance(item, int) and not isinstance(item, bool) and item in allowed
                for item in value
            ):
                raise ConsentPolicyError(
                    f"{name} must be a list of TCF purpose ids 1–11.", field=name
                )
            return frozenset(value)

        def names(name: str, allowed: tuple[str, ...] | None) -> frozenset[str]:
            value = data.get(name, getattr(base, name))
            if not isinstance(value, list | tuple | set | frozenset) or not all(
                isinstance(item, str) and item and (allowed is None or item in allowed)
                for item in value
            ):
                choices = f" ({', '.join(allowed)})" if allowed else ""
                raise ConsentPolicyError(f"{name} must be a list of names{choices}.", field=name)
            return frozenset(value)

        def flag(name: str) -> bool:
            value = data.get(name, getattr(base, name))
            if not isinstance(value, bool):
                raise ConsentPolicyError(f"{name} must be true or false.", field=name)
            return value

        vendor = data.get("tcf_vendor_id", base.tcf_vendor_id)
        if vendor is not None and (
            not isinstance(vendor, int) or isinstance(vendor, bool) or not 1 <= vendor <= 65535
        ):
            raise ConsentPolicyError(
                "tcf_vendor_id is a Global Vendor List id (1–65535) or empty.",
                field="tcf_vendor_id",
            )
        on_missing = data.get("on_missing", str(base.on_missing))
        if on_missing not in OnMissing.__members__.values():
            raise ConsentPolicyError(
                "on_missing is block or deliver_anonymized.", field="on_missing"
            )
        return cls(
            tcf_purposes=ints("tcf_purposes", TCF_PURPOSES),
            tcf_vendor_id=vendor,
            consent_mode=names("consent_mode", CONSENT_MODE_SIGNALS),
            consent_mode_identifiers=names("consent_mode_identifiers", CONSENT_MODE_SIGNALS),
            categories=names("categories", CATEGORIES),
            on_missing=OnMissing(on_missing),
            anonymized_allowed=flag("anonymized_allowed"),
            sells_or_shares=flag("sells_or_shares"),
        )


DESTINATION_TYPES = {
    "meta_capi": "Meta Conversions API",
    "tiktok_events": "TikTok Events API",
    "ga4_mp": "GA4 Measurement Protocol",
    "webhook": "Webhook",
}

# Shipped defaults, one per destination type; docs/privacy-consent.md gives the sources.
DEFAULT_POLICIES: dict[str, ConsentPolicy] = {
    # Advertising platforms: personalised-advertising purposes (store/access, build a profile,
    # use it to select ads); Meta is not a TCF vendor, so no vendor id.
    "meta_capi": ConsentPolicy(
        tcf_purposes=frozenset({1, 3, 4}),
        consent_mode=frozenset({"ad_storage", "ad_user_data"}),
        categories=frozenset({"advertising"}),
        on_missing=OnMissing.BLOCK,
        anonymized_allowed=False,  # server events must carry customer information
        sells_or_shares=True,
    ),
    "tiktok_events": ConsentPolicy(
        tcf_purposes=frozenset({1, 3, 4}),
        consent_mode=frozenset({"ad_storage", "ad_user_data"}),
        categories=frozenset({"advertising"}),
        on_missing=OnMissing.BLOCK,
        anonymized_allowed=False,
        sells_or_shares=True,
    ),
    # Measurement: Google Advertising Products is GVL vendor 755. Analytics storage is what
    # GA4 needs; a denied ad_user_data only strips user-provided data and ids.
    "ga4_mp": ConsentPolicy(
        tcf_purposes=frozenset({1}),
        tcf_vendor_id=755,
        consent_mode=frozenset({"analytics_storage"}),
        consent_mode_identifiers=frozenset({"ad_user_data"}),
        categories=frozenset({"analytics"}),
        on_missing=OnMissing.DELIVER_ANONYMIZED,
        anonymized_allowed=True,
        sells_or_shares=False,
    ),
    # The customer's own endpoint: no requirements until the workspace sets some.
    "webhook": ConsentPolicy(
        on_missing=OnMissing.BLOCK,
        anonymized_allowed=True,
        sells_or_shares=False,
    ),
}


# --- The decision ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Decision:
    action: ConsentAction
    reasons: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"action": str(self.action), "reasons": list(self.reasons)}


# A source's verdict on a policy: True grants all it covers, False refuses, None says nothing.
Verdict = bool | None


def _tcf_verdict(consent: ConsentSignals, policy: ConsentPolicy, refusals: list[str]) -> Verdict:
    data = consent.tcf
    if data is None or not (policy.tcf_purposes or policy.tcf_vendor_id):
        return None
    before = len(refusals)
    vendor = policy.tcf_vendor_id
    for purpose in sorted(policy.tcf_purposes):
        if purpose not in data.purpose_consents:
            refusals.append(f"tcf_purpose_missing:{purpose}")
        elif vendor and data.restriction_for(purpose_id=purpose, vendor_id=vendor) == 0:
            refusals.append(f"tcf_purpose_restricted:{purpose}")
    if vendor and vendor not in data.vendor_consents:
        refusals.append(f"tcf_vendor_missing:{vendor}")
    return len(refusals) == before


def _named_verdict(
    given: Mapping[str, bool], required: frozenset[str], prefix: str, refusals: list[str]
) -> Verdict:
    """Consent Mode signals or categories: refused if any required one is denied, granted if
    every required one is granted, silent otherwise."""
    if not required or not given:
        return None
    denied = [name for name in sorted(required) if given.get(name) is False]
    refusals.extend(f"{prefix}_denied:{name}" for name in denied)
    if denied:
        return False
    return True if all(given.get(name) for name in required) else None


def decide(
    *, consent: ConsentSignals, policy: ConsentPolicy, jurisdiction: Jurisdiction
) -> Decision:
    """Deliver, deliver without identifiers, or block — and why, as stable codes."""
    refusals: list[str] = []
    anonymize: list[str] = []

    verdicts = {
        "tcf": _tcf_verdict(consent, policy, refusals),
        "consent_mode": _named_verdict(
            consent.consent_mode, policy.consent_mode, "consent_mode", refusals
        ),
        "categories": _named_verdict(consent.categories, policy.categories, "category", refusals),
    }
    for name in sorted(policy.consent_mode_identifiers):
        if consent.consent_mode.get(name) is False:
            anonymize.append(f"consent_mode_denied:{name}")

    if policy.sells_or_shares:
        if consent.gpc and jurisdiction.honours_gpc:
            refusals.append("gpc_opt_out")
        if consent.us_privacy_opt_out:
            refusals.append("us_privacy_opt_out")

    if refusals:
        return Decision(ConsentAction.BLOCK, tuple(refusals + anonymize))

    granted = [f"granted:{source}" for source, verdict in verdicts.items() if verdict]
    if jurisdiction.regime == Regime.OPT_IN and policy.has_requirements and not granted:
        missing = "no_consent_signal"
        if (
            consent.tcf is None
            and consent.tcf_string is None
            and any(error.startswith("tcf_invalid") for error in consent.errors)
        ):
            missing = "tcf_invalid"
        if policy.on_missing == OnMissing.DELIVER_ANONYMIZED:
            anonymize.append(missing)
        else:
            return Decision(ConsentAction.BLOCK, (missing, *anonymize))

    if anonymize:
        if not policy.anonymized_allowed:
            return Decision(ConsentAction.BLOCK, (*anonymize, "anonymized_not_supported"))
        return Decision(ConsentAction.DELIVER_ANONYMIZED, tuple(anonymize))

    if granted:
        return Decision(ConsentAction.DELIVER, tuple(granted))
    if not policy.has_requirements:
        return Decision(ConsentAction.DELIVER, ("no_requirements",))
    return Decision(ConsentAction.DELIVER, (f"regime:{jurisdiction.regime}",))


# --- A workspace's configuration -------------------------------------------------------------


@dataclass(frozen=True)
class ConsentConfig:
    """A workspace's consent settings, resolved: what ``evaluate`` needs and nothing else."""

    default_jurisdiction: Jurisdiction
    honour_gpc_everywhere: bool = False
    regime_overrides: Mapping[str, str] = field(default_factory=dict)
    category_mapping: Mapping[str, str] = field(default_factory=dict)
    policies: Mapping[str, ConsentPolicy] = field(default_factory=lambda: dict(DEFAULT_POLICIES))

    def jurisdiction(self, consent: ConsentSignals) -> Jurisdiction:
        return jurisdiction_for(
            country=consent.country,
            region=consent.region,
            default=self.default_jurisdiction,
            overrides=dict(self.regime_overrides),
            honour_gpc_everywhere=self.honour_gpc_everywhere,
        )

    def capture(self, context: object, *, headers: Mapping | None = None) -> ConsentSignals:
        return consent_capture(context, headers=headers, category_mapping=self.category_mapping)

    def evaluate(self, consent: ConsentSignals) -> tuple[Jurisdiction, dict[str, Decision]]:
        """The jurisdiction, and the decision for each destination type."""
        where = self.jurisdiction(consent)
        return where, {
            kind: decide(consent=consent, policy=policy, jurisdiction=where)
            for kind, policy in self.policies.items()
        }


# --- Words for people ---------------------------------------------------------------------------

TCF_PURPOSE_NAMES = {
    1: "Store and/or access information on a device",
    2: "Use limited data to select advertising",
    3: "Create profiles for personalised advertising",
    4: "Use profiles to select personalised advertising",
    5: "Create profiles to personalise content",
    6: "Use profiles to select personalised content",
    7: "Measure advertising performance",
    8: "Measure content performance",
    9: "Understand audiences through statistics or combinations of data from different sources",
    10: "Develop and improve services",
    11: "Use limited data to select content",
}
TCF_SPECIAL_FEATURE_NAMES = {
    1: "Use precise geolocation data",
    2: "Actively scan device characteristics for identification",
}
REASON_TEXT = {
    "tcf_purpose_missing": "The TC string does not consent to TCF purpose {arg}.",
    "tcf_purpose_restricted": "The publisher does not allow purpose {arg} for this vendor.",
    "tcf_vendor_missing": "The TC string does not consent to vendor {arg}.",
    "tcf_invalid": "The TC string could not be read, so it grants nothing.",
    "consent_mode_denied": "Consent Mode {arg} is denied.",
    "category_denied": "The visitor refused the {arg} category.",
    "gpc_opt_out": "Global Privacy Control opts out of sale and sharing here.",
    "us_privacy_opt_out": "The US Privacy string opts out of sale.",
    "no_consent_signal": "Consent is required here and no signal grants it.",
    "anonymized_not_supported": "This platform does not accept events without identifiers.",
    "granted": "Granted by {arg}.",  # the source, in SOURCE_NAMES
    "no_requirements": "This destination's policy requires no consent.",
    "regime": "No refusal, and the {arg} regime does not require consent up front.",
}


SOURCE_NAMES = {
    "tcf": "the TC string",
    "consent_mode": "Consent Mode",
    "categories": "the category preferences",
}


def explain(reason: str) -> str:
    """A reason code in words, for the tester and the delivery log."""
    code, _, arg = reason.partition(":")
    if code == "granted":
        arg = SOURCE_NAMES.get(arg, arg)
    elif code == "regime":
        arg = arg.replace("_", "-")
    return REASON_TEXT.get(code, reason).format(arg=arg)
