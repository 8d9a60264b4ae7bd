"""The consent firewall's decisions: regime × signal × destination policy, as tables."""

from datetime import UTC, datetime

import pytest

from privacy.consent import (
    DEFAULT_POLICIES,
    ConsentAction,
    ConsentPolicy,
    ConsentSignals,
    OnMissing,
    decide,
    explain,
)
from privacy.jurisdictions import STRICTEST, jurisdiction_for, jurisdiction_lookup
from privacy.tcf import PublisherRestriction, TCData

DELIVER, ANON, BLOCK = (
    ConsentAction.DELIVER,
    ConsentAction.DELIVER_ANONYMIZED,
    ConsentAction.BLOCK,
)
WHEN = datetime(2026, 11, 1, 12, tzinfo=UTC)
ALL_PURPOSES = frozenset(range(1, 12))


def tc(purposes=ALL_PURPOSES, vendors=frozenset({755}), restrictions=()) -> TCData:
    return TCData(
        version=2,
        created=WHEN,
        last_updated=WHEN,
        cmp_id=10,
        cmp_version=1,
        consent_screen=1,
        consent_language="EN",
        vendor_list_version=120,
        policy_version=5,
        is_service_specific=True,
        use_non_standard_texts=False,
        special_feature_optins=frozenset(),
        purpose_consents=frozenset(purposes),
        purpose_legitimate_interests=frozenset(),
        purpose_one_treatment=False,
        publisher_cc="DE",
        vendor_consents=frozenset(vendors),
        vendor_legitimate_interests=frozenset(),
        publisher_restrictions=tuple(restrictions),
        disclosed_vendors=frozenset(),
        allowed_vendors=frozenset(),
        publisher_consents=frozenset(),
        publisher_legitimate_interests=frozenset(),
        custom_purpose_consents=frozenset(),
        custom_purpose_legitimate_interests=frozenset(),
    )


def signals(**kwargs) -> ConsentSignals:
    if "tcf" in kwargs:
        kwargs.setdefault("tcf_string", "CP-test")
    return ConsentSignals(**kwargs)


NOTHING = signals()
TCF_ALL = signals(tcf=tc())
TCF_NO_ADS = signals(tcf=tc(purposes={1, 7, 8, 9, 10}))
TCF_NO_GOOGLE = signals(tcf=tc(vendors={1, 2}))
TCF_RESTRICTED = signals(
    tcf=tc(restrictions=[PublisherRestriction(1, 0, frozenset({755}))]),
)
CM_GRANTED = signals(
    consent_mode={
        name: True
        for name in ("ad_storage", "analytics_storage", "ad_user_data", "ad_personalization")
    }
)
CM_ADS_DENIED = signals(
    consent_mode={"ad_storage": False, "analytics_storage": True, "ad_user_data": False}
)
CM_USER_DATA_DENIED = signals(
    consent_mode={"ad_storage": True, "analytics_storage": True, "ad_user_data": False}
)
CM_PARTIAL = signals(consent_mode={"ad_storage": True})
CATEGORIES_ALL = signals(categories={"advertising": True, "analytics": True})
CATEGORIES_NO_ADS = signals(categories={"advertising": False, "analytics": True})
GPC = signals(gpc=True)
GPC_WITH_CONSENT = signals(gpc=True, tcf=tc(), consent_mode=CM_GRANTED.consent_mode)
USP_OPT_OUT = signals(us_privacy="1YYN")
USP_NO_OPT_OUT = signals(us_privacy="1YNN")
TCF_INVALID = signals(errors=("tcf_invalid:truncated",))

DE = jurisdiction_lookup("DE")  # opt-in, GDPR
CA = jurisdiction_lookup("US-CA")  # opt-out, GPC binding
VA = jurisdiction_lookup("US-VA")  # opt-out, GPC not binding
JP = jurisdiction_lookup("JP")  # no consent law in the table

META, GA4, WEBHOOK = (DEFAULT_POLICIES[k] for k in ("meta_capi", "ga4_mp", "webhook"))

TABLE = [
    # --- opt-in (GDPR) --------------------------------------------------------------------
    ("opt-in, nothing, ads", DE, NOTHING, META, BLOCK, ("no_consent_signal",)),
    ("opt-in, nothing, ga4", DE, NOTHING, GA4, ANON, ("no_consent_signal",)),
    ("opt-in, nothing, webhook", DE, NOTHING, WEBHOOK, DELIVER, ("no_requirements",)),
    ("opt-in, tcf all, ads", DE, TCF_ALL, META, DELIVER, ("granted:tcf",)),
    ("opt-in, tcf all, ga4", DE, TCF_ALL, GA4, DELIVER, ("granted:tcf",)),
    (
        "opt-in, tcf without ad purposes, ads",
        DE,
        TCF_NO_ADS,
        META,
        BLOCK,
        ("tcf_purpose_missing:3", "tcf_purpose_missing:4"),
    ),
    ("opt-in, tcf without ad purposes, ga4", DE, TCF_NO_ADS, GA4, DELIVER, ("granted:tcf",)),
    ("opt-in, tcf without google, ga4", DE, TCF_NO_GOOGLE, GA4, BLOCK, ("tcf_vendor_missing:755",)),
    ("opt-in, tcf without google, ads", DE, TCF_NO_GOOGLE, META, DELIVER, ("granted:tcf",)),
    (
        "opt-in, publisher restricts purpose 1 for google",
        DE,
        TCF_RESTRICTED,
        GA4,
        BLOCK,
        ("tcf_purpose_restricted:1",),
    ),
    ("opt-in, invalid tcf, ads", DE, TCF_INVALID, META, BLOCK, ("tcf_invalid",)),
    ("opt-in, consent mode granted, ads", DE, CM_GRANTED, META, DELIVER, ("granted:consent_mode",)),
    (
        "opt-in, consent mode ads denied, ads",
        DE,
        CM_ADS_DENIED,
        META,
        BLOCK,
        ("consent_mode_denied:ad_storage", "consent_mode_denied:ad_user_data"),
    ),
    (
        "opt-in, consent mode user data denied, ga4",
        DE,
        CM_USER_DATA_DENIED,
        GA4,
        ANON,
        ("consent_mode_denied:ad_user_data",),
    ),
    ("opt-in, consent mode partial, ads", DE, CM_PARTIAL, META, BLOCK, ("no_consent_signal",)),
    ("opt-in, categories granted, ads", DE, CATEGORIES_ALL, META, DELIVER, ("granted:categories",)),
    (
        "opt-in, advertising refused, ads",
        DE,
        CATEGORIES_NO_ADS,
        META,
        BLOCK,
        ("category_denied:advertising",),
    ),
    (
        "opt-in, advertising refused, ga4",
        DE,
        CATEGORIES_NO_ADS,
        GA4,
        DELIVER,
        ("granted:categories",),
    ),
    ("opt-in, gpc alone, ads", DE, GPC, META, BLOCK, ("gpc_opt_out",)),
    ("opt-in, gpc over consent, ads", DE, GPC_WITH_CONSENT, META, BLOCK, ("gpc_opt_out",)),
    ("opt-in, gpc, ga4 (no sale)", DE, GPC, GA4, ANON, ("no_consent_signal",)),
    # --- opt-out with binding GPC (California) --------------------------------------------
    ("california, nothing, ads", CA, NOTHING, META, DELIVER, ("regime:opt_out",)),
    ("california, gpc, ads", CA, GPC, META, BLOCK, ("gpc_opt_out",)),
    ("california, gpc, ga4 (no sale)", CA, GPC, GA4, DELIVER, ("regime:opt_out",)),
    ("california, gpc, webhook", CA, GPC, WEBHOOK, DELIVER, ("no_requirements",)),
    ("california, usp opt-out, ads", CA, USP_OPT_OUT, META, BLOCK, ("us_privacy_opt_out",)),
    ("california, usp no opt-out, ads", CA, USP_NO_OPT_OUT, META, DELIVER, ("regime:opt_out",)),
    (
        "california, explicit denial, ads",
        CA,
        CM_ADS_DENIED,
        META,
        BLOCK,
        ("consent_mode_denied:ad_storage", "consent_mode_denied:ad_user_data"),
    ),
    ("california, tcf all, ads", CA, TCF_ALL, META, DELIVER, ("granted:tcf",)),
    # --- opt-out without binding GPC (Virginia) -------------------------------------------
    ("virginia, gpc, ads", VA, GPC, META, DELIVER, ("regime:opt_out",)),
    ("virginia, usp opt-out, ads", VA, USP_OPT_OUT, META, BLOCK, ("us_privacy_opt_out",)),
    # --- no consent law -------------------------------------------------------------------
    ("no law, nothing, ads", JP, NOTHING, META, DELIVER, ("regime:none",)),
    ("no law, gpc, ads", JP, GPC, META, DELIVER, ("regime:none",)),
    (
        "no law, explicit refusal, ads",
        JP,
        CATEGORIES_NO_ADS,
        META,
        BLOCK,
        ("category_denied:advertising",),
    ),
    (
        "no law, tcf refusal, ads",
        JP,
        TCF_NO_ADS,
        META,
        BLOCK,
        ("tcf_purpose_missing:3", "tcf_purpose_missing:4"),
    ),
    # --- unknown location: the strictest default ------------------------------------------
    ("strictest, nothing, ads", STRICTEST, NOTHING, META, BLOCK, ("no_consent_signal",)),
]


@pytest.mark.parametrize(
    ("jurisdiction", "consent", "policy", "action", "reasons"),
    [row[1:] for row in TABLE],
    ids=[row[0] for row in TABLE],
)
def test_decision_table(jurisdiction, consent, policy, action, reasons):
    decision = decide(consent=consent, policy=policy, jurisdiction=jurisdiction)

    assert (decision.action, decision.reasons) == (action, reasons)


def test_on_missing_deliver_anonymized_needs_a_platform_that_accepts_it():
    policy = ConsentPolicy(
        categories=frozenset({"advertising"}),
        on_missing=OnMissing.DELIVER_ANONYMIZED,
        anonymized_allowed=False,
    )

    decision = decide(consent=NOTHING, policy=policy, jurisdiction=DE)

    assert decision.action == BLOCK
    assert decision.reasons == ("no_consent_signal", "anonymized_not_supported")


def test_identifier_denial_blocks_where_the_platform_cannot_go_without_identifiers():
    policy = ConsentPolicy(
        consent_mode_identifiers=frozenset({"ad_user_data"}), anonymized_allowed=False
    )

    decision = decide(consent=CM_USER_DATA_DENIED, policy=policy, jurisdiction=JP)

    assert decision.action == BLOCK
    assert decision.reasons == ("consent_mode_denied:ad_user_data", "anonymized_not_supported")


def test_a_refusal_reports_every_reason_at_once():
    consent = signals(
        tcf=tc(purposes={1}),
        consent_mode={"ad_storage": False},
        categories={"advertising": False},
        gpc=True,
        us_privacy="1YYY",
    )

    decision = decide(consent=consent, policy=META, jurisdiction=CA)

    assert decision.action == BLOCK
    assert decision.reasons == (
        "tcf_purpose_missing:3",
        "tcf_purpose_missing:4",
        "consent_mode_denied:ad_storage",
        "category_denied:advertising",
        "gpc_opt_out",
        "us_privacy_opt_out",
    )


def test_decide_is_pure():
    first = decide(consent=TCF_NO_ADS, policy=META, jurisdiction=DE)
    second = decide(consent=TCF_NO_ADS, policy=META, jurisdiction=DE)

    assert first == second
    assert first.to_dict() == {
        "action": "block",
        "reasons": ["tcf_purpose_missing:3", "tcf_purpose_missing:4"],
    }


# --- jurisdictions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "region", "code", "regime", "gpc"),
    [
        ("DE", None, "DE", "opt_in", True),
        ("FR", "IDF", "FR", "opt_in", True),
        ("GB", None, "GB", "opt_in", True),
        ("NO", None, "NO", "opt_in", True),
        ("US", "CA", "US-CA", "opt_out", True),
        ("US", "CO", "US-CO", "opt_out", True),
        ("US", "VA", "US-VA", "opt_out", False),
        ("US", "FL", "US-FL", "none", False),
        ("US", None, "US", "opt_out", True),
        ("JP", None, "JP", "none", False),
    ],
)
def test_jurisdiction_from_the_event_location(country, region, code, regime, gpc):
    found = jurisdiction_for(country=country, region=region, default=STRICTEST)

    assert (found.code, found.regime, found.honours_gpc, found.source) == (
        code,
        regime,
        gpc,
        "event",
    )


def test_unknown_location_takes_the_workspace_default():
    default = jurisdiction_lookup("US-CA")

    found = jurisdiction_for(country=None, region=None, default=default)

    assert (found.code, found.source) == ("US-CA", "default")


def test_workspace_overrides_and_gpc_everywhere():
    overridden = jurisdiction_for(
        country="BR", region=None, default=STRICTEST, overrides={"BR": "opt_in"}
    )
    everywhere = jurisdiction_for(
        country="US", region="VA", default=STRICTEST, honour_gpc_everywhere=True
    )

    assert (overridden.regime, overridden.honours_gpc) == ("opt_in", True)
    assert decide(consent=GPC, policy=META, jurisdiction=everywhere).reasons == ("gpc_opt_out",)


@pytest.mark.parametrize(
    ("reason", "text"),
    [
        ("tcf_vendor_missing:755", "The TC string does not consent to vendor 755."),
        ("granted:consent_mode", "Granted by Consent Mode."),
        ("regime:opt_out", "No refusal, and the opt-out regime does not require consent up front."),
        ("something_new", "something_new"),
    ],
)
def test_reasons_have_words(reason, text):

    assert explain(reason) == text
