from django import forms

from privacy.consent import (
    CATEGORIES,
    CONSENT_MODE_SIGNALS,
    TCF_PURPOSE_NAMES,
    ConsentPolicy,
    OnMissing,
)
from privacy.jurisdictions import jurisdiction_choices


def _pairs_text(pairs: dict) -> str:
    return "\n".join(f"{key} = {value}" for key, value in pairs.items())


def _parse_pairs(text: str, *, upper_keys: bool = False) -> dict[str, str]:
    """ "key = value" per line (blank lines and # comments ignored) into a dict."""
    pairs: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise forms.ValidationError(f"Line {number}: write it as “name = value”.")
        pairs[key.upper() if upper_keys else key] = value.lower()
    return pairs


class ConsentGeneralForm(forms.Form):
    default_jurisdiction = forms.ChoiceField(
        label="When the visitor's location is unknown",
        choices=jurisdiction_choices,
        help_text="Events carry their location in context.location.country and .region.",
    )
    honour_gpc_everywhere = forms.BooleanField(
        label="Honour Global Privacy Control everywhere",
        required=False,
        help_text="By default GPC is binding where the law says so: opt-in regimes and the US "
        "states that require it.",
    )
    regime_overrides = forms.CharField(
        label="Regime overrides",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "BR = opt_in\nUS-VA = opt_out"}),
        help_text="One per line: a country (BR) or US state (US-VA) = opt_in, opt_out or none.",
    )
    category_mapping = forms.CharField(
        label="Category names",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "C0004 = advertising"}),
        help_text="Your CMP's names for categoryPreferences = TrackLayer's: "
        + ", ".join(CATEGORIES)
        + ". Names that already match need no line.",
    )

    @classmethod
    def for_settings(cls, settings, data=None):
        return cls(
            data,
            initial={
                "default_jurisdiction": settings.default_jurisdiction,
                "honour_gpc_everywhere": settings.honour_gpc_everywhere,
                "regime_overrides": _pairs_text(settings.regime_overrides),
                "category_mapping": _pairs_text(settings.category_mapping),
            },
        )

    def clean_regime_overrides(self):
        return _parse_pairs(self.cleaned_data["regime_overrides"], upper_keys=True)

    def clean_category_mapping(self):
        return _parse_pairs(self.cleaned_data["category_mapping"])


class ConsentPolicyForm(forms.Form):
    tcf_purposes = forms.TypedMultipleChoiceField(
        label="TCF purposes that need consent",
        required=False,
        coerce=int,
        choices=[(number, f"{number}. {name}") for number, name in TCF_PURPOSE_NAMES.items()],
        widget=forms.CheckboxSelectMultiple,
    )
    tcf_vendor_id = forms.IntegerField(
        label="IAB vendor id",
        required=False,
        min_value=1,
        max_value=65535,
        help_text="The platform's id in the Global Vendor List, if it has one.",
    )
    consent_mode = forms.MultipleChoiceField(
        label="Consent Mode signals that must be granted",
        required=False,
        choices=[(name, name) for name in CONSENT_MODE_SIGNALS],
        widget=forms.CheckboxSelectMultiple,
    )
    consent_mode_identifiers = forms.MultipleChoiceField(
        label="Consent Mode signals whose denial removes identifiers",
        required=False,
        choices=[(name, name) for name in CONSENT_MODE_SIGNALS],
        widget=forms.CheckboxSelectMultiple,
    )
    categories = forms.MultipleChoiceField(
        label="Categories that must be granted",
        required=False,
        choices=[(name, name) for name in CATEGORIES],
        widget=forms.CheckboxSelectMultiple,
    )
    on_missing = forms.ChoiceField(
        label="Opt-in regime, no consent signal",
        choices=[
            (OnMissing.BLOCK, "Block"),
            (OnMissing.DELIVER_ANONYMIZED, "Deliver without identifiers"),
        ],
    )
    anonymized_allowed = forms.BooleanField(
        label="The platform accepts events without identifiers", required=False
    )
    sells_or_shares = forms.BooleanField(
        label="Counts as sale or sharing (GPC and US Privacy opt-outs block it)", required=False
    )

    @classmethod
    def for_policy(cls, kind: str, policy: ConsentPolicy, data=None):
        initial = policy.to_dict()
        return cls(data, prefix=kind, initial=initial)

    def policy_data(self) -> dict:
        data = dict(self.cleaned_data)
        data["tcf_purposes"] = sorted(data["tcf_purposes"])
        return data


CONSENT_MODE_CHOICES = [("", "not sent"), ("granted", "granted"), ("denied", "denied")]


class ConsentTesterForm(forms.Form):
    """The consent tester's inputs, shaped into the ``context`` an event would carry."""

    tc_string = forms.CharField(
        label="TC string",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        max_length=65536,
    )
    ad_storage = forms.ChoiceField(choices=CONSENT_MODE_CHOICES, required=False)
    analytics_storage = forms.ChoiceField(choices=CONSENT_MODE_CHOICES, required=False)
    ad_user_data = forms.ChoiceField(choices=CONSENT_MODE_CHOICES, required=False)
    ad_personalization = forms.ChoiceField(choices=CONSENT_MODE_CHOICES, required=False)
    gpc = forms.BooleanField(label="Global Privacy Control (Sec-GPC: 1)", required=False)
    us_privacy = forms.CharField(label="US Privacy string", required=False, max_length=8)
    categories = forms.CharField(
        label="Category preferences",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "advertising = false"}),
        help_text="One per line: name = true or false, as in context.consent.categoryPreferences.",
    )
    country = forms.CharField(label="Country", required=False, max_length=64)
    region = forms.CharField(label="Region (US state)", required=False, max_length=64)

    def clean_categories(self):
        preferences = {}
        for name, value in _parse_pairs(self.cleaned_data["categories"]).items():
            if value not in {"true", "false", "granted", "denied"}:
                raise forms.ValidationError(f"{name}: write true or false.")
            preferences[name] = value in {"true", "granted"}
        return preferences

    def context(self) -> dict:
        """The event ``context`` these inputs stand for (shown on the page, so a developer
        can send the same)."""
        data = self.cleaned_data
        consent: dict = {}
        if data["tc_string"].strip():
            consent["tcString"] = data["tc_string"].strip()
        mode = {name: data[name] for name in CONSENT_MODE_SIGNALS if data.get(name)}
        if mode:
            consent["consentMode"] = mode
        if data["gpc"]:
            consent["gpc"] = True
        if data["us_privacy"].strip():
            consent["usPrivacy"] = data["us_privacy"].strip()
        if data["categories"]:
            consent["categoryPreferences"] = data["categories"]
        context: dict = {"consent": consent} if consent else {}
        location = {key: data[key].strip() for key in ("country", "region") if data[key].strip()}
        if location:
            context["location"] = location
        return context
