"""Reading consent signals from an event's context: every common shape, and never a crash."""

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from privacy.consent import ConsentSignals, consent_capture
from tests.privacy.tcf_encoder import encode

CREATED = datetime(2026, 10, 1, 9, 30, tzinfo=UTC)
TC_STRING = encode(
    created=CREATED,
    cmp_id=300,
    purpose_consents=[1, 3, 4, 7],
    vendor_consents=[755, 1126],
    publisher_cc="DE",
)


def test_tcf_string_is_decoded_from_the_consent_object():
    signals = consent_capture({"consent": {"tcString": TC_STRING}})

    assert signals.tcf_string == TC_STRING
    assert signals.tcf.purpose_consents == {1, 3, 4, 7}
    assert signals.tcf.vendor_consents == {755, 1126}
    assert signals.errors == ()


def test_other_tcf_locations_are_read_too():
    for context in (
        {"consent": {"gdprConsent": TC_STRING}},
        {"gdpr_consent": TC_STRING},
        {"tcString": TC_STRING},
    ):
        assert consent_capture(context).tcf.cmp_id == 300


def test_a_malformed_tcf_string_is_an_error_not_a_grant():
    signals = consent_capture({"consent": {"tcString": "not a tc string!"}})

    assert signals.tcf is None and signals.tcf_string is None
    assert signals.errors == ("tcf_invalid:bad_characters",)


def test_consent_mode_v2_in_either_spelling():
    signals = consent_capture(
        {
            "consent": {
                "consentMode": {
                    "ad_storage": "granted",
                    "analytics_storage": "DENIED",
                    "ad_user_data": True,
                    "ad_personalization": "maybe",
                }
            }
        }
    )

    assert signals.consent_mode == {
        "ad_storage": True,
        "analytics_storage": False,
        "ad_user_data": True,
    }
    assert signals.errors == ("consent_mode_invalid:ad_personalization",)


def test_the_gcs_parameter_of_google_tags():
    assert consent_capture({"consent": {"gcs": "G101"}}).consent_mode == {
        "ad_storage": False,
        "analytics_storage": True,
    }
    assert consent_capture({"gcs": "G1-1"}).consent_mode == {"analytics_storage": True}
    assert consent_capture({"gcs": "X"}).errors == ("consent_mode_invalid:gcs",)


def test_gpc_from_context_or_the_sec_gpc_header():
    assert consent_capture({"consent": {"gpc": True}}).gpc
    assert consent_capture({"globalPrivacyControl": "1"}).gpc
    assert consent_capture({}, headers={"Sec-GPC": "1"}).gpc
    assert consent_capture({}, headers={"HTTP_SEC_GPC": "1"}).gpc  # request.META
    assert not consent_capture({}, headers={"Sec-GPC": "0"}).gpc
    assert not consent_capture({"consent": {"gpc": False}}).gpc


def test_us_privacy_string():
    assert consent_capture({"consent": {"usPrivacy": "1yyn"}}).us_privacy == "1YYN"
    assert consent_capture({"consent": {"usPrivacy": "1YYN"}}).us_privacy_opt_out
    assert not consent_capture({"us_privacy": "1YNN"}).us_privacy_opt_out
    assert consent_capture({"us_privacy": "2YYN"}).errors == ("us_privacy_invalid",)


def test_segment_category_preferences_are_mapped_to_trackLayer_categories():
    signals = consent_capture(
        {
            "consent": {
                "categoryPreferences": {
                    "C0004": False,
                    "Targeting": True,
                    "Analytics": True,
                    "Broken": "yes",
                }
            }
        },
        category_mapping={"C0004": "advertising", "targeting": "advertising"},
    )

    # One refusal among the names mapped to "advertising" refuses it.
    assert signals.categories == {"advertising": False, "analytics": True}
    assert signals.errors == ("category_invalid:Broken",)


def test_location_country_names_and_us_states_are_normalised():
    signals = consent_capture({"location": {"country": "United States", "region": "California"}})
    german = consent_capture({"location": {"country": "de", "region": "Bayern"}})

    assert (signals.country, signals.region) == ("US", "CA")
    assert (german.country, german.region) == ("DE", None)
    assert consent_capture({"location": {"country": "Atlantis"}}).errors == ("country_unknown",)


def test_signals_survive_storage():
    signals = consent_capture(
        {
            "consent": {"tcString": TC_STRING, "gpc": True, "usPrivacy": "1YNN"},
            "location": {"country": "FR"},
        }
    )

    stored = ConsentSignals.from_dict(signals.to_dict())

    assert stored == signals
    assert stored.tcf.vendor_consents == {755, 1126}


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "consent",
                    "tcString",
                    "consentMode",
                    "ad_storage",
                    "gpc",
                    "usPrivacy",
                    "categoryPreferences",
                    "location",
                    "country",
                    "region",
                    "gcs",
                ]
            )
            | st.text(max_size=8),
            children,
            max_size=5,
        )
    ),
    max_leaves=25,
)


@given(context=JSON)
def test_capture_never_raises_whatever_the_context(context):
    signals = consent_capture(context, headers={"Sec-GPC": "1"})

    assert isinstance(signals, ConsentSignals)
    assert signals.gpc
