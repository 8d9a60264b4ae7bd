"""Decoding IAB TCF v2 TC strings (privacy/tcf.py).

Published example strings decode to their published values; strings from an independent
encoder (tests/privacy/tcf_encoder.py) round-trip; every error code is reachable; and no input
whatsoever makes ``decode`` raise anything but ``TCStringError``.
"""

import dataclasses
import json
import pickle
import sys
import threading
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from privacy import tcf
from privacy.tcf import PublisherRestriction, TCData, TCStringError, decode
from tests.privacy import tcf_encoder as enc
from tests.privacy.tcf_encoder import encode

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CREATED = datetime(2026, 3, 14, 15, 9, 26, 500_000, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _cold_cache():
    decode.cache_clear()
    yield
    decode.cache_clear()


def has_restriction(data: TCData, purpose_id: int, restriction_type: int, vendor_id: int) -> bool:
    return any(
        restriction.purpose_id == purpose_id
        and restriction.restriction_type == restriction_type
        and vendor_id in restriction.vendors
        for restriction in data.publisher_restrictions
    )


def error_code(tc_string) -> str:
    with pytest.raises(TCStringError) as raised:
        decode(tc_string)
    return raised.value.code


# --- published examples ----------------------------------------------------------------------
#
# Sources:
# [spec]  IAB Tech Lab, "Consent string and vendor list formats v2", section "TC String Format"
#         and "Signaling OOB in the TC String" (InteractiveAdvertisingBureau/
#         GDPR-Transparency-and-Consent-Framework, TCFv2/IAB Tech Lab - Consent string and vendor
#         list formats v2.md). The spec gives strings without decoded values: the values below are
#         those of the IAB's reference decoder @iabtechlabtcf/core 1.5.21 (TCString.decode),
#         checked field by field against privacy/tcf.py when these tests were written.
# [spec-2025] the same document after commit 8930740 "Updates sample TC Strings" (June 2025).
# [go-gdpr]  prebid/go-gdpr, vendorconsent/tcf2/metadata_test.go and pubrestrict_test.go.
# [iabtcf]   InteractiveAdvertisingBureau/iabtcf-es, modules/core/test/ReportedIssues.test.ts.
# [iab-tcf]  gguridi/iab-tcf (the Python "iab-tcf" package), tests/seed/v2/consent_b.json.

SPEC_GLOBAL_FOUR_SEGMENTS = (
    "COw4XqLOw4XqLAAAAAENAXCAAAAAAAAAAAAAAAAAAAAA."
    "IFukWSQgAIQwgI0QEByFAAAAeIAACAIgSAAQAIAgEQACEABAAAgAQFAEAIAAAGBAAgAAAAQAIFAAMCQAAgAAQiRAEQ"
    "AAAAANAAIAAggAIYQFAAARmggBC3ZCYzU2yIA."
    "QFukWSQgAIQwgI0QEByFAAAAeIAACAIgSAAQAIAgEQACEABAAAgAQFAEAIAAAGBAAgAAAAQAIFAAMCQAAgAAQiRAEQ"
    "AAAAANAAIAAggAIYQFAAARmggBC3ZCYzU2yIA."
    "YAAAAAAAAAAAAAAAAAA"
)
SPEC_SERVICE_SPECIFIC = (
    "CLcVDxRMWfGmWAVAHCENAXCkAKDAADnAABRgA5mdfCKZuYJez-NQm0TBMYA4oCAAGQYIAAAAAAEAIAEgAA."
    "argAC0gAAAAAAAAAAAA"
)
SPEC_OOB_CORE = "COvFyGBOvFyGBAbAAAENAPCAAOAAAAAAAAAAAEEUACCKAAA"
SPEC_OOB_DISCLOSED = (
    "IFoEUQQgAIQwgIwQABAEAAAAOIAACAIAAAAQAIAgEAACEAAAAAgAQBAAAAAAAGBAAgAAAAAAAFAAECAAAgAAQARAEQ"
    "AAAAAJAAIAAgAAAYQEAAAQmAgBC3ZAYzUw"
)
SPEC_2025 = "CQSbk4AQSbk4ANwAAAENAwCgAAAAAAAAAAYgACPAAAAA.IDKQA4AAgAKAGQAygAAA"

# The disclosed (and, with the same body, allowed) vendors of SPEC_GLOBAL_FOUR_SEGMENTS.
SPEC_FOUR_SEGMENTS_VENDORS = [
    2, 6, 8, 9, 12, 15, 18, 23, 37, 42, 47, 48, 53, 61, 65, 66, 68, 72, 80, 88, 89, 90, 93, 98,
    100, 126, 127, 128, 129, 133, 153, 163, 167, 174, 177, 192, 205, 215, 224, 228, 243, 248, 262,
    281, 294, 302, 304, 314, 325, 350, 351, 358, 371, 402, 415, 422, 424, 439, 440, 447, 450, 467,
    486, 491, 495, 498, 502, 512, 516, 553, 554, 556, 571, 587, 593, 607, 612, 613, 618, 626, 628,
    648, 652, 653, 656, 657, 659, 665, 676, 681, 683, 684, 686, 687, 688, 690, 691, 694, 699, 702,
    703, 707, 708, 711, 712, 714, 716, 719, 720, 722, 723, 725, 726, 729, 733,
]  # fmt: skip


SPEC_SERVICE_SPECIFIC_VENDORS = [
    2, 3, 6, 7, 8, 10, 12, 13, 14, 15, 16, 21, 25, 27, 30, 31, 34, 35, 37, 38, 39, 42, 43, 49, 52,
    54, 55, 56, 57, 59, 60, 63, 64, 65, 66, 67, 68, 69, 73, 74, 76, 78, 83, 86, 87, 89, 90, 92, 96,
    99, 100, 106, 109, 110, 114, 115,
]  # fmt: skip


def test_spec_service_specific_string_with_publisher_tc():
    data = decode(SPEC_SERVICE_SPECIFIC)

    assert data.to_dict() == {
        "version": 2,
        "created": "2008-12-07T10:04:17.700+00:00",
        "last_updated": "2012-01-10T17:10:13.400+00:00",
        "cmp_id": 21,
        "cmp_version": 7,
        "consent_screen": 2,
        "consent_language": "EN",
        "vendor_list_version": 23,
        "policy_version": 2,
        "is_service_specific": True,
        "use_non_standard_texts": False,
        "special_feature_optins": [2],
        "purpose_consents": [1, 3, 9, 10],
        "purpose_legitimate_interests": [3, 4, 5, 8, 9, 10],
        "purpose_one_treatment": False,
        "publisher_cc": "KM",
        "vendor_consents": SPEC_SERVICE_SPECIFIC_VENDORS,
        "vendor_legitimate_interests": [1, 9, 26, 27, 30, 36, 37, 43, 86, 97, 110, 113],
        "publisher_restrictions": [],
        "disclosed_vendors": [],
        "allowed_vendors": [],
        "publisher_consents": [2, 4, 6, 8, 9, 10],
        "publisher_legitimate_interests": [2, 4, 5, 7, 10],
        "custom_purpose_consents": [],
        "custom_purpose_legitimate_interests": [],
    }


def test_spec_global_string_with_all_four_segments():
    data = decode(SPEC_GLOBAL_FOUR_SEGMENTS)

    assert data.cmp_id == 0  # the reference decoder's model refuses CmpId 0; the format allows it
    assert data.vendor_list_version == 23
    assert sorted(data.disclosed_vendors) == SPEC_FOUR_SEGMENTS_VENDORS
    assert sorted(data.allowed_vendors) == SPEC_FOUR_SEGMENTS_VENDORS
    assert data.publisher_consents == data.custom_purpose_consents == frozenset()


def test_spec_oob_example_core_and_disclosed_vendors():
    data = decode(f"{SPEC_OOB_CORE}.{SPEC_OOB_DISCLOSED}")

    assert (data.cmp_id, data.vendor_list_version, data.publisher_cc) == (27, 15, "AA")
    assert data.created == datetime(2020, 2, 20, 23, 57, 39, 300_000, tzinfo=UTC)
    assert data.purpose_consents == {1, 2, 3}
    assert data.vendor_consents == data.vendor_legitimate_interests == {2, 6, 8}
    assert sorted(data.disclosed_vendors) == [
        2, 6, 8, 12, 18, 23, 37, 42, 47, 48, 53, 61, 65, 66, 72, 88, 98, 127, 128, 129, 133, 153,
        163, 192, 205, 215, 224, 243, 248, 281, 294, 304, 350, 351, 358, 371, 422, 424, 440, 447,
        467, 486, 498, 502, 512, 516, 553, 556, 571, 587, 612, 613, 618, 626, 648, 653, 656, 657,
        665, 676, 681, 683, 684, 686, 687, 688, 690, 691, 694, 702, 703, 707, 708, 711, 712, 714,
        716, 719, 720,
    ]  # fmt: skip
    assert data.allowed_vendors == frozenset()


def test_spec_oob_example_3_repeats_the_disclosed_vendors_segment():
    # [spec] "Example 3" appends ".PVAfDObdrA" to the Example 1 string; 'P' starts with the bits
    # 001, a second DisclosedVendors segment (the reference decoder also refuses the string).
    assert error_code(f"{SPEC_OOB_CORE}.{SPEC_OOB_DISCLOSED}.PVAfDObdrA") == "duplicate_segment"


def test_spec_2025_example():
    data = decode(SPEC_2025)

    assert data.created == data.last_updated == datetime(2025, 6, 3, tzinfo=UTC)
    assert (data.cmp_id, data.vendor_list_version, data.policy_version) == (880, 48, 2)
    assert (data.consent_language, data.publisher_cc, data.is_service_specific) == (
        "EN",
        "DE",
        True,
    )
    assert data.vendor_consents == {1, 2, 3, 4}
    assert data.disclosed_vendors == {1, 2, 3, 4, 5, 100, 404}


@pytest.mark.parametrize(
    ("tc_string", "field", "expected"),
    [
        (
            "COyiBqdOyiBqdObAAAENAfCIAP8AAH-AAAAAB4AXQQgEAAAgoAAAAABAIYQUAAAAAAAAAAAAAAAIQIQCxIvkgQMAAAABgAIAAAAAAAAAAABAZAkAAA",
            "cmp_id",
            923,
        ),
        ("COyiCPlOyiCPlKxMIAENAfCAAAAAAAAAAAAAAAAAAAAA", "cmp_version", 776),
        ("COyiFYuOyiFYuDKAA4ENAfCAAAAAAAAAAAAAAAAAAAAA", "consent_screen", 56),
        ("COyiHgFOyiHgFN4ABABGAPCAAAAAAAAAAAAAAFAAAAoAAAA", "consent_language", "BG"),
        ("COyiHgFOyiHgFN4ABASVAPCAAAAAAAAAAAAAAFAAAAoAAAA", "consent_language", "SV"),
        ("COx3XOeOx3XOeLkAAAENAfCIAAAAAHgAAIAAAAAAAAAA", "purpose_one_treatment", True),
        (
            "COx3XOeOx3XOeLkAAAENAfCIAAAAAHgAAIAAAAAAAAAA",
            "purpose_legitimate_interests",
            {2, 3, 4, 5},
        ),
    ],
)
def test_go_gdpr_metadata_examples(tc_string, field, expected):
    assert getattr(decode(tc_string), field) == expected


def test_go_gdpr_created_and_last_updated():
    data = decode(
        "COvcSpYOvcSpYC9AAAENAPCAAAAAAAAAAAAACvwDQABAAIAAYABIAC4AJQAagA9ACEAPgAjIBJoCvAK-AAAAAA"
    )

    # go-gdpr checks to the second: 2020-02-27 19:51:49 UTC.
    assert data.created.replace(microsecond=0) == datetime(2020, 2, 27, 19, 51, 49, tzinfo=UTC)
    assert data.last_updated == data.created
    assert data.created.tzinfo is UTC


def test_go_gdpr_special_feature_optins():
    data = decode("COx3XOeOx3XOeLkAAAENAfCIAAAAAHgAAIAAAAAAAAAA")

    assert 1 in data.special_feature_optins and 2 not in data.special_feature_optins


def test_go_gdpr_publisher_restrictions():
    data = decode("COwAdDhOwAdDhN4ABAENAPCgAAQAAv___wAAAFP_AAp_4AI6ACACAA")

    assert (data.version, data.cmp_id, data.cmp_version, data.consent_screen) == (2, 888, 1, 0)
    assert (data.consent_language, data.vendor_list_version) == ("EN", 15)
    assert has_restriction(data, 7, 1, 32)
    assert not has_restriction(data, 7, 1, 7)
    assert not has_restriction(data, 5, 1, 32)


def test_go_gdpr_publisher_restrictions_with_ranges():
    data = decode(
        "COxPe2TOxPe2TALABAENAPCgAAAAAAAAAAAAAFAAAAoAAA4IACACAIABgACAFA4ADACAAIygAGADwAQBIAIAIB0A"
        "EAEBSACACAA"
    )

    assert not data.purpose_one_treatment
    assert 3 not in data.special_feature_optins
    expected = {
        (1, 0, 32): True,
        (1, 1, 32): False,
        (2, 0, 32): True,
        (2, 0, 5): True,
        (2, 0, 11): True,
        (2, 0, 44): False,
        (2, 0, 500): False,
        (2, 1, 32): True,
        (2, 1, 42): False,
    }
    assert {key: has_restriction(data, *key) for key in expected} == expected
    # Vendor 32 is under types 0 and 1 for purpose 2: the strictest one wins.
    assert data.restriction_for(purpose_id=2, vendor_id=32) == 0


def test_iabtcf_issue_201_repeated_restrictions_are_merged():
    data = decode(
        "CO4VGswO4VGswAfZCBDEAzCsAP_AAH_AAAigGUNf_X9fb2vj-_599_t0eY1f9_63t-wzjheMs-8NyZ-X_J4Wv2My"
        "vB34JqQKGRgkunLBAQdtHGncTQgBwIlViTLMY02MjzNKJrJEilsbe2dYGH9vn8XT_ZKZ70-_v__7v3___33_5Ayhr"
        "_6_r7e18f3_Pvv9ujzGr_v_W9v2GccLxln3huTPy_5PC1-xmV4O_BNSBQyMEl05YICDto407iaEAOBEqsSZZjGmxk"
        "eZpRNZIkUtjb2zrAw_t8_i6f7JTPen39___d-___--__ICgKAOAAcAA4AFAAjgB6AEYALcGACAW0AtoJAHAAOAAcAC"
        "gARwA9ACMAFuFABALaAW0GgDgAHAAOABQAI4AegBGAC3DgAgFtALaEQBwADgAHAAoAEcAPQAjABbiQAQC2gFtCoA4A"
        "BwADgAUACOAHoARgAtxYAIBbQC2hkAcAA4ABwAKABHAD0AIwAW40AEAtoBbQ6AOAAcAA4AFAAjgB6AEYALceACAW0A"
        "tohAHAAOAAcACgARwA9ACMAFuRABALaAW0SgDgAHAAOABQAI4AegBGAC3JgAgFtALaKQBwADgAHAAoAEcAPQAjABbl"
        "QAQC2gFtA"
    )

    assert data.version == 2
    restriction = next(
        r for r in data.publisher_restrictions if (r.purpose_id, r.restriction_type) == (1, 1)
    )
    assert sorted(restriction.vendors) == [7, 20, 71, 122, 140, 183]
    keys = [(r.purpose_id, r.restriction_type) for r in data.publisher_restrictions]
    assert keys == sorted(set(keys))  # one entry per (purpose, type), sorted


def test_iabtcf_issue_142_bitfield_shorter_than_max_vendor_id_is_refused():
    assert (
        error_code(
            "CLSYjTaOngnCIAOABBENAXCMAGOAABBAAA7IA5n-m7fP6_3fbqVv6E__PoA5Aqff3aJx8tv_1967rfnQEQoAIAAQC"
            "rwkAEABAcACABIMACAAuApEVABABUSABgBCAVSAtIoACACIArYQAHACgAFgAVwBJgDcAI7AWgMAAgBiKgAgBMgFf"
            "KQAQBRkQAQA4AFiBAAoA-AEVAJlAVgAtYcACAJcAr4eABAK8OgBgFzAOmAqwgABAWyA.IFukWSQh"
        )
        == "truncated"
    )


IAB_TCF_CONSENT_B = (
    "COxR03kOxR1CqBcABCENAgCMAP_AAH_AAAqIF3EXySoGY2thI2YVFxBEIYwfJxyigMgChgQIsSwNQIeFLBoGLiAAHBGYJ"
    "AQAGBAEEACBAQIkHGBMCQAAgAgBiRCMQEGMCzNIBIBAggEbY0FACCVmHkHSmZCY7064O__QLuIJEFQMAkSBAIACLECIQw"
    "AQDiAAAYAlAAABAhIaAAgIWBQEeAAAACAwAAgAAABBAAACAAQAAICIAAABAAAgAiAQAAAAGgIQAACBABACRIAAAEANCAAg"
    "iCEAQg4EAo4AAA"
)


def test_iab_tcf_python_package_seed():
    data = decode(IAB_TCF_CONSENT_B)

    # The seed gives the times to the second ("2020-04-03T11:43:31", "…11:44:42").
    assert data.created.replace(microsecond=0) == datetime(2020, 4, 3, 11, 43, 31, tzinfo=UTC)
    assert data.last_updated.replace(microsecond=0) == datetime(2020, 4, 3, 11, 44, 42, tzinfo=UTC)
    assert (data.version, data.cmp_id, data.cmp_version, data.consent_screen) == (2, 92, 1, 2)
    assert (data.consent_language, data.vendor_list_version, data.policy_version) == ("EN", 32, 2)
    assert not data.is_service_specific and not data.use_non_standard_texts
    assert data.special_feature_optins == {1, 2}
    assert data.purpose_consents == set(range(1, 11))
    assert data.purpose_legitimate_interests == set(range(2, 11))
    assert not data.purpose_one_treatment and data.publisher_cc == "FR"
    assert sorted(data.vendor_consents) == [
        2, 6, 8, 9, 10, 11, 12, 15, 18, 21, 23, 25, 32, 33, 36, 37, 41, 42, 44, 45, 47, 49, 50, 52,
        53, 58, 61, 65, 66, 68, 69, 72, 73, 78, 80, 82, 86, 88, 89, 90, 94, 100, 104, 109, 114, 115,
        119, 120, 126, 127, 128, 129, 130, 133, 136, 137, 138, 142, 143, 144, 147, 149, 153, 155,
        163, 164, 167, 177, 179, 184, 185, 192, 199, 203, 205, 206, 210, 213, 215, 216, 223, 224,
        226, 228, 235, 240, 241, 242, 243, 248, 250, 253, 255, 256, 262, 263, 265, 272, 273, 277,
        279, 280, 281, 285, 302, 303, 304, 310, 314, 315, 318, 319, 325, 328, 336, 350, 351, 358,
        368, 374, 387, 394, 402, 409, 413, 416, 422, 423, 424, 428, 429, 436, 439, 440, 447, 450,
        467, 479, 490, 491, 495, 498, 502, 507, 511, 512, 516, 524, 530, 531, 535, 536, 543, 545,
        546, 549, 550, 553, 554, 556, 559, 568, 571, 580, 587, 593, 602, 606, 607, 609, 610, 612,
        613, 617, 618, 620, 626, 628, 639, 645, 648, 650, 652, 653, 656, 657, 662, 663, 664, 665,
        668, 674, 675, 676, 678, 681, 683, 686, 687, 690, 691, 694, 699, 702, 703, 707, 708, 709,
        711, 712, 713, 714, 716, 719, 720, 721, 723, 725, 726, 727, 733, 734, 735, 737, 738, 739,
        740, 741, 742, 743, 744, 745, 746, 747, 748, 750,
    ]  # fmt: skip
    assert sorted(data.vendor_legitimate_interests) == [
        2, 8, 11, 15, 21, 23, 25, 32, 33, 42, 45, 49, 52, 59, 68, 82, 86, 88, 89, 93, 100, 104, 109,
        114, 115, 127, 136, 137, 138, 142, 163, 164, 174, 177, 179, 203, 210, 215, 218, 223, 224,
        226, 240, 248, 253, 255, 256, 263, 265, 273, 277, 278, 279, 280, 310, 318, 319, 336, 365,
        371, 394, 409, 428, 436, 440, 467, 486, 498, 502, 511, 543, 544, 546, 554, 559, 580, 587,
        599, 610, 613, 617, 620, 645, 656, 657, 659, 664, 678, 684, 688, 694, 699, 709, 714, 720,
        721, 722, 729, 738, 740, 744, 745, 746,
    ]  # fmt: skip
    assert data.publisher_restrictions == ()


# --- round trips through the independent encoder -----------------------------------------------


def expected_data(**fields) -> TCData:
    """The TCData that encode(**fields) must decode to (absent segments decode as empty)."""
    restrictions = sorted(
        (purpose, kind, frozenset(vendors))
        for purpose, kind, vendors in fields.get("publisher_restrictions", ())
    )
    created = fields["created"]
    return TCData(
        version=2,
        created=created,
        last_updated=fields.get("last_updated") or created,
        cmp_id=fields.get("cmp_id", 0),
        cmp_version=fields.get("cmp_version", 0),
        consent_screen=fields.get("consent_screen", 0),
        consent_language=fields.get("consent_language", "EN").upper(),
        vendor_list_version=fields.get("vendor_list_version", 0),
        policy_version=fields.get("policy_version", 4),
        is_service_specific=fields.get("is_service_specific", False),
        use_non_standard_texts=fields.get("use_non_standard_texts", False),
        special_feature_optins=frozenset(fields.get("special_feature_optins", ())),
        purpose_consents=frozenset(fields.get("purpose_consents", ())),
        purpose_legitimate_interests=frozenset(fields.get("purpose_legitimate_interests", ())),
        purpose_one_treatment=fields.get("purpose_one_treatment", False),
        publisher_cc=fields.get("publisher_cc", "AA").upper(),
        vendor_consents=frozenset(fields.get("vendor_consents", ())),
        vendor_legitimate_interests=frozenset(fields.get("vendor_legitimate_interests", ())),
        publisher_restrictions=tuple(PublisherRestriction(*entry) for entry in restrictions),
        disclosed_vendors=frozenset(fields.get("disclosed_vendors") or ()),
        allowed_vendors=frozenset(fields.get("allowed_vendors") or ()),
        publisher_consents=frozenset(fields.get("publisher_consents") or ()),
        publisher_legitimate_interests=frozenset(
            fields.get("publisher_legitimate_interests") or ()
        ),
        custom_purpose_consents=frozenset(fields.get("custom_purpose_consents") or ()),
        custom_purpose_legitimate_interests=frozenset(
            fields.get("custom_purpose_legitimate_interests") or ()
        ),
    )


EVERYTHING = {
    "created": CREATED,
    "last_updated": CREATED + timedelta(days=40, seconds=3, microseconds=700_000),
    "cmp_id": 4095,
    "cmp_version": 4095,
    "consent_screen": 63,
    "consent_language": "fr",
    "vendor_list_version": 4095,
    "policy_version": 63,
    "is_service_specific": True,
    "use_non_standard_texts": True,
    "special_feature_optins": {1, 12},
    "purpose_consents": {1, 2, 3, 4, 7, 9, 10, 24},
    "purpose_legitimate_interests": {2, 7, 8, 9, 10, 11},
    "purpose_one_treatment": True,
    "publisher_cc": "DE",
    "vendor_consents": set(range(1, 400, 2)) | {755, 1126},
    "vendor_legitimate_interests": set(range(100, 350)) | {65_535},
    "publisher_restrictions": [(2, 0, {5, 6, 7, 900}), (7, 1, {755}), (10, 2, range(1, 30_001))],
    "disclosed_vendors": set(range(1, 1200)) - {13, 99},
    "allowed_vendors": {755},
    "publisher_consents": {1, 2, 3},
    "publisher_legitimate_interests": {2, 7, 24},
    "custom_purpose_consents": {1, 3, 63},
    "custom_purpose_legitimate_interests": {2},
}


@pytest.mark.parametrize("vendor_encoding", ["auto", "bitfield", "range"])
def test_every_field_round_trips(vendor_encoding):
    tc_string = encode(**EVERYTHING, vendor_encoding=vendor_encoding)

    assert decode(tc_string) == expected_data(**EVERYTHING)


def test_the_smallest_string_round_trips():
    tc_string = encode(created=CREATED)

    assert decode(tc_string) == expected_data(created=CREATED)
    assert (
        len(tc_string) == 44
    )  # 259 bits: the fixed 213, two empty vendor sections, 0 restrictions


def test_extreme_times_round_trip():
    latest = EPOCH + timedelta(milliseconds=100 * (2**36 - 1))  # 36 bits of deciseconds: 2187

    data = decode(encode(created=EPOCH, last_updated=latest))

    assert (data.created, data.last_updated) == (EPOCH, latest)


def test_empty_optional_segments_decode_like_absent_ones():
    present = encode(
        created=CREATED, disclosed_vendors=(), allowed_vendors=(), publisher_consents=()
    )

    assert len(present.split(".")) == 4
    assert decode(present) == decode(encode(created=CREATED))


def id_sets(max_id: int, *, min_size: int = 0):
    """Scattered ids and runs of consecutive ids, so both encodings get exercised."""
    scattered = st.frozensets(st.integers(1, max_id), max_size=30)
    runs = st.lists(st.tuples(st.integers(1, max_id), st.integers(0, 300)), max_size=3).map(
        lambda pairs: frozenset(
            number
            for start, length in pairs
            for number in range(start, min(start + length, max_id) + 1)
        )
    )
    return st.builds(frozenset.union, scattered, runs).filter(lambda ids: len(ids) >= min_size)


def subsets(size: int):
    return st.frozensets(st.integers(1, size), max_size=size) if size else st.just(frozenset())


deciseconds = st.integers(0, 2**36 - 1).map(
    lambda tenths: EPOCH + timedelta(milliseconds=100 * tenths)
)
letters = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=2)


@st.composite
def tc_fields(draw, max_vendor_id: int = 3000) -> dict:
    fields = {
        "created": draw(deciseconds),
        "last_updated": draw(deciseconds),
        "cmp_id": draw(st.integers(0, 4095)),
        "cmp_version": draw(st.integers(0, 4095)),
        "consent_screen": draw(st.integers(0, 63)),
        "consent_language": draw(letters),
        "vendor_list_version": draw(st.integers(0, 4095)),
        "policy_version": draw(st.integers(0, 63)),
        "is_service_specific": draw(st.booleans()),
        "use_non_standard_texts": draw(st.booleans()),
        "special_feature_optins": draw(subsets(12)),
        "purpose_consents": draw(subsets(24)),
        "purpose_legitimate_interests": draw(subsets(24)),
        "purpose_one_treatment": draw(st.booleans()),
        "publisher_cc": draw(letters),
        "vendor_consents": draw(id_sets(max_vendor_id)),
        "vendor_legitimate_interests": draw(id_sets(max_vendor_id)),
        "publisher_restrictions": [
            (purpose, kind, vendors)
            for (purpose, kind), vendors in draw(
                st.dictionaries(
                    st.tuples(st.integers(1, 63), st.integers(0, 3)),
                    id_sets(65_535, min_size=1),
                    max_size=4,
                )
            ).items()
        ],
        "disclosed_vendors": draw(st.none() | id_sets(max_vendor_id)),
        "allowed_vendors": draw(st.none() | id_sets(max_vendor_id)),
    }
    if draw(st.booleans()):
        custom = draw(st.integers(0, 63))
        fields |= {
            "publisher_consents": draw(subsets(24)),
            "publisher_legitimate_interests": draw(subsets(24)),
            "custom_purpose_consents": draw(subsets(custom)),
            "custom_purpose_legitimate_interests": draw(subsets(custom)),
            "num_custom_purposes": custom,
        }
    return fields


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields=tc_fields(), vendor_encoding=st.sampled_from(["auto", "bitfield", "range"]))
def test_generated_strings_round_trip(fields, vendor_encoding):
    tc_string = encode(**fields, vendor_encoding=vendor_encoding)

    assert decode(tc_string) == expected_data(**fields)


# --- encoding details the decoder must accept ----------------------------------------------


def test_correct_base64_padding_is_tolerated():
    tc_string = encode(**EVERYTHING)
    padded = ".".join(segment + "=" * (-len(segment) % 4) for segment in tc_string.split("."))

    assert padded != tc_string
    assert decode(padded) == decode(tc_string)


def test_surrounding_whitespace_is_ignored():
    tc_string = encode(created=CREATED, cmp_id=7)

    assert decode(f"  {tc_string}\n").cmp_id == 7


def test_bits_in_the_last_character_past_the_last_byte_are_read():
    # A publisher TC segment of 59 bits, padded only to whole characters (10 characters, 60
    # bits): base64 of bytes would keep 56 of them and lose the custom purpose LI bit.
    body = enc.publisher_tc_bits({1}, set(), {1}, {1}, num_custom_purposes=1)
    segment = enc.to_base64url(body, pad_to=6)
    assert (len(body), len(segment)) == (59, 10)

    data = decode(f"{encode(created=CREATED)}.{segment}")

    assert data.custom_purpose_consents == data.custom_purpose_legitimate_interests == {1}


def test_segments_after_the_core_come_in_any_order():
    forward = encode(
        created=CREATED, disclosed_vendors={1, 5}, allowed_vendors={5}, publisher_consents={1}
    )
    core, *others = forward.split(".")

    assert decode(".".join([core, *reversed(others)])) == decode(forward)


def fixed(**fields) -> str:
    return enc.core_fixed_bits(created=CREATED, **fields)


def core_string(*sections: str, **fields) -> str:
    return enc.to_base64url(fixed(**fields) + "".join(sections))


NO_VENDORS = enc.vendor_section(())
NO_RESTRICTIONS = enc.uint(0, 12)


def restriction(purpose_id: int, restriction_type: int, ranges) -> str:
    return enc.uint(purpose_id, 6) + enc.uint(restriction_type, 2) + enc.range_entries(ranges)


def test_overlapping_and_unordered_ranges_are_merged():
    vendors = (
        enc.uint(12, 16) + "1" + enc.range_entries([(5, 10), (1, 3), (8, 12), (4, 4), (5, 10)])
    )

    data = decode(core_string(vendors, NO_VENDORS, NO_RESTRICTIONS))

    assert data.vendor_consents == set(range(1, 13))


def test_a_range_of_one_vendor_is_accepted():
    vendors = enc.uint(9, 16) + "1" + enc.uint(1, 12) + "1" + enc.uint(9, 16) + enc.uint(9, 16)

    assert decode(core_string(vendors, NO_VENDORS, NO_RESTRICTIONS)).vendor_consents == {9}


def test_restriction_entries_for_the_same_purpose_and_type_are_merged_and_sorted():
    restrictions = enc.uint(3, 12) + "".join(
        [restriction(7, 1, [(3, 3)]), restriction(2, 0, [(5, 5)]), restriction(2, 0, [(7, 9)])]
    )

    data = decode(core_string(NO_VENDORS, NO_VENDORS, restrictions))

    assert data.publisher_restrictions == (
        PublisherRestriction(2, 0, frozenset({5, 7, 8, 9})),
        PublisherRestriction(7, 1, frozenset({3})),
    )


def test_restriction_type_3_is_passed_through():
    restrictions = enc.uint(1, 12) + restriction(4, 3, [(20, 22)])

    data = decode(core_string(NO_VENDORS, NO_VENDORS, restrictions))

    assert data.restriction_for(purpose_id=4, vendor_id=21) == 3


def test_restriction_for():
    data = decode(
        encode(
            created=CREATED,
            publisher_restrictions=[(2, 0, {5}), (2, 2, {5, 6}), (3, 1, {5}), (3, 2, {5})],
        )
    )

    assert data.restriction_for(purpose_id=2, vendor_id=5) == 0  # 0 and 2: the strictest
    assert data.restriction_for(purpose_id=2, vendor_id=6) == 2
    assert data.restriction_for(purpose_id=3, vendor_id=5) == 1  # 1 and 2: consent first
    assert data.restriction_for(purpose_id=2, vendor_id=7) is None
    assert data.restriction_for(purpose_id=4, vendor_id=5) is None


def test_to_dict_is_json_ready():
    data = decode(encode(**EVERYTHING))

    as_dict = data.to_dict()

    assert json.loads(json.dumps(as_dict)) == as_dict
    assert as_dict["created"] == "2026-03-14T15:09:26.500+00:00"
    assert as_dict["consent_language"] == "FR"
    assert as_dict["vendor_consents"] == sorted(EVERYTHING["vendor_consents"])
    assert as_dict["publisher_restrictions"][0] == {
        "purpose_id": 2,
        "restriction_type": 0,
        "vendors": [5, 6, 7, 900],
    }
    assert list(as_dict) == [field.name for field in dataclasses.fields(TCData)]
    assert datetime.fromisoformat(as_dict["last_updated"]) == data.last_updated


def test_decoded_data_is_immutable_and_hashable():
    data = decode(encode(**EVERYTHING))

    with pytest.raises(dataclasses.FrozenInstanceError):
        data.cmp_id = 1  # type: ignore[misc]
    assert {data: 1}[decode(encode(**EVERYTHING))] == 1


# --- errors: every code is reachable ---------------------------------------------------------

VALID = encode(created=CREATED, vendor_consents={1, 2, 3})
V1_STRING = (  # a TCF v1.1 string ([iabtcf] issue 156 decodes it as version 1)
    "BOhwdphOxFC7tAHABBFRC--AAAAuhr_7__7-_9_-_f__9uj3Or_v_f__32ccL59v_h_7v-_7fi_20nV4u_1vft9yfk1-"
    "5ctDztp507iakivXmqdeb9v_nz3_5pxP78k89r7337Ew_v8_v-b7BCON_YxEiA"
)


def with_bits(bits: str, offset: int, replacement: str) -> str:
    return bits[:offset] + replacement + bits[offset + len(replacement) :]


ERRORS = [
    ("not_a_string", b"COw4XqLOw4XqLAAAAAENAXCAAAAAAAAAAAAAAAAAAAAA"),
    ("not_a_string", None),
    ("not_a_string", 42),
    ("not_a_string", ["CO"]),
    ("empty", ""),
    ("empty", " \t\n"),
    ("too_long", "A" * (tcf.MAX_LENGTH + 1)),
    ("bad_characters", VALID[:10] + "+" + VALID[11:]),  # standard, not web-safe, base64
    ("bad_characters", VALID[:10] + "/" + VALID[11:]),
    ("bad_characters", VALID[:10] + " " + VALID[11:]),
    ("bad_characters", VALID[:10] + "é" + VALID[11:]),
    ("bad_characters", VALID + "\x00"),
    ("bad_characters", "not a tc string!"),
    ("bad_padding", VALID[:8] + "=" + VALID[8:]),
    ("bad_padding", "CAAAA"),  # 5 characters: no base64 has a length of 4n + 1
    ("bad_padding", "CAA=="),
    ("bad_padding", "CA==="),
    ("empty_segment", VALID + "."),
    ("empty_segment", "." + VALID),
    ("empty_segment", VALID + "..YAAAAAAAAAA"),
    ("truncated", VALID[:20]),
    ("truncated", VALID[:40]),  # inside the vendor consent section
    ("truncated", core_string(enc.uint(600, 16) + "0" + "1" * 100)),  # a bitfield cut short
    ("truncated", core_string(enc.uint(9, 16) + "1" + enc.uint(3, 12) + "0" + enc.uint(9, 16))),
    ("truncated", core_string(NO_VENDORS, NO_VENDORS)),  # NumPubRestrictions missing
    ("truncated", core_string(NO_VENDORS, NO_VENDORS, enc.uint(2, 12) + restriction(1, 0, []))),
    ("truncated", VALID + ".YAAA"),  # a publisher TC segment of 24 bits
    ("truncated", VALID + "." + enc.to_base64url(enc.segment_bits(1, enc.uint(900, 16) + "0"))),
    ("unsupported_version", V1_STRING),
    ("unsupported_version", core_string(NO_VENDORS, NO_VENDORS, NO_RESTRICTIONS, version=3)),
    ("unsupported_version", "AAAA"),
    ("missing_core", SPEC_OOB_DISCLOSED),
    ("missing_core", "YAAAAAAAAAAA." + VALID),
    ("unknown_segment_type", VALID + ".oAAAAAAAAAAA"),  # 'o' = 101000: type 5
    ("unknown_segment_type", VALID + ".____"),  # type 7
    ("duplicate_segment", VALID + ".YAAAAAAAAAAA.YAAAAAAAAAAA"),
    ("duplicate_segment", VALID + "." + VALID),  # a second core (type 0)
    (
        "range_end_before_start",
        core_string(enc.uint(20, 16) + "1" + enc.range_entries([(10, 5)]), NO_VENDORS),
    ),
    (
        "range_end_before_start",
        core_string(NO_VENDORS, NO_VENDORS, enc.uint(1, 12) + restriction(1, 0, [(9, 8)])),
    ),
    ("bad_vendor_id", core_string(enc.uint(20, 16) + "1" + enc.range_entries([(0, 4)]))),
    ("bad_vendor_id", core_string(enc.uint(20, 16) + "1" + enc.range_entries([(21, 21)]))),
    ("bad_vendor_id", core_string(enc.uint(20, 16) + "1" + enc.range_entries([(15, 30)]))),
    (
        "bad_vendor_id",
        core_string(NO_VENDORS, NO_VENDORS, enc.uint(1, 12) + restriction(1, 0, [(0, 0)])),
    ),
    (
        "bad_purpose_id",
        core_string(NO_VENDORS, NO_VENDORS, enc.uint(1, 12) + restriction(0, 0, [(5, 5)])),
    ),
    (
        "bad_language",
        enc.to_base64url(with_bits(enc.core_bits(created=CREATED), 108, enc.uint(26, 6))),
    ),
    (
        "bad_country",
        enc.to_base64url(with_bits(enc.core_bits(created=CREATED), 207, enc.uint(63, 6))),
    ),
    (
        "too_many_vendor_ids",
        core_string(
            NO_VENDORS,
            NO_VENDORS,
            enc.uint(3, 12) + "".join(restriction(p, 0, [(1, 65_535)]) for p in (1, 2, 3)),
        ),
    ),
    (
        "too_many_vendor_ids",
        encode(
            created=CREATED,
            vendor_consents=range(1, 65_536),
            disclosed_vendors={1, 2},  # 65,537 ids in all
            vendor_encoding="range",
        ),
    ),
]


@pytest.mark.parametrize(("code", "tc_string"), ERRORS)
def test_errors(code, tc_string):
    with pytest.raises(TCStringError) as raised:
        decode(tc_string)

    assert raised.value.code == code
    assert str(raised.value) == raised.value.message and raised.value.message


def test_every_error_code_is_reached():
    assert {code for code, _ in ERRORS} == tcf.ERROR_CODES


def test_errors_are_value_errors_that_survive_pickling():
    with pytest.raises(ValueError) as raised:
        decode("")

    copy = pickle.loads(pickle.dumps(raised.value))  # noqa: S301 - our own bytes
    assert (type(copy), copy.code, copy.message) == (
        TCStringError,
        "empty",
        "The TC string is empty.",
    )


def test_a_str_subclass_is_decoded_as_a_plain_str():
    class Sneaky(str):
        def __hash__(self):
            raise RuntimeError("not ours to call")

    assert decode(Sneaky(VALID)) == decode(VALID)


def test_the_longest_accepted_input_is_decoded():
    longest = VALID + "." + "Y" * (tcf.MAX_LENGTH - len(VALID) - 1)
    assert len(longest) == tcf.MAX_LENGTH

    # A publisher TC segment whose ~390,000 bits after its last field are ignored, as
    # padding is.
    assert decode(longest).publisher_consents


# --- robustness: nothing but TCStringError, whatever the input --------------------------------


def decode_or_refuse(value) -> None:
    """decode() either returns TCData or raises TCStringError with a known code."""
    try:
        data = decode(value)
    except TCStringError as error:
        assert error.code in tcf.ERROR_CODES
        assert error.message and str(error) == error.message
    else:
        assert isinstance(data, TCData)
        json.dumps(data.to_dict())


ROBUST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@ROBUST
@given(st.text())
def test_any_text(text):
    decode_or_refuse(text)


@ROBUST
@given(
    st.lists(st.text(enc.BASE64URL + "=", min_size=0, max_size=120), min_size=1, max_size=5).map(
        ".".join
    )
)
def test_any_base64url_segments(text):
    decode_or_refuse(text)


@ROBUST
@given(st.lists(st.text(enc.BASE64URL, min_size=2, max_size=80), min_size=0, max_size=4))
def test_any_segments_after_a_valid_core(segments):
    decode_or_refuse(".".join([VALID, *segments]))


@ROBUST
@given(st.none() | st.integers() | st.binary() | st.lists(st.text()) | st.floats())
def test_any_object(value):
    decode_or_refuse(value)


@st.composite
def mutated_strings(draw) -> str:
    """A valid string with bits flipped, characters replaced, cut short or given extra segments."""
    fields = draw(tc_fields(max_vendor_id=400))
    segments = encode(
        **fields, vendor_encoding=draw(st.sampled_from(["auto", "bitfield", "range"]))
    ).split(".")
    index = draw(st.integers(0, len(segments) - 1))
    bits = enc.from_base64url(segments[index])
    mutation = draw(st.sampled_from(["flip", "cut", "append", "replace"]))
    if mutation == "flip":
        for position in draw(st.lists(st.integers(0, len(bits) - 1), min_size=1, max_size=8)):
            bits = with_bits(bits, position, "1" if bits[position] == "0" else "0")
        segments[index] = enc.to_base64url(bits, pad_to=6)
    elif mutation == "cut":
        segments[index] = segments[index][: draw(st.integers(0, len(segments[index])))]
    elif mutation == "append":
        segments.append(draw(st.text(enc.BASE64URL, min_size=1, max_size=60)))
    else:
        position = draw(st.integers(0, len(segments[index]) - 1))
        character = draw(st.sampled_from(enc.BASE64URL + "=.+/ "))
        segments[index] = with_bits(segments[index], position, character)
    return ".".join(segments)


@ROBUST
@given(mutated_strings())
def test_mutated_valid_strings(tc_string):
    decode_or_refuse(tc_string)


# --- limits and caching ----------------------------------------------------------------------


def test_a_full_vendor_range_repeated_4095_times_decodes_to_one_set():
    """How long it takes is measured by ``make bench`` (tests/bench/privacy_tcf.py, the
    adversarial rows)."""
    tc_string = core_string(
        enc.uint(65_535, 16)
        + "1"
        + enc.uint(4095, 12)
        + ("1" + enc.uint(1, 16) + enc.uint(65_535, 16)) * 4095,
        NO_VENDORS,
        NO_RESTRICTIONS,
    )

    data = decode(tc_string)

    assert data.vendor_consents == set(range(1, 65_536))
    assert len(tc_string) > 20_000  # 4,095 range entries: merged before any set is built


REALISTIC = {
    **EVERYTHING,
    "vendor_consents": set(range(1, 700, 2)),
    "vendor_legitimate_interests": set(range(1, 700, 5)),
    "publisher_restrictions": [(2, 0, set(range(10, 40))), (7, 1, {755})],
    "disclosed_vendors": set(range(1, 700)) - {13, 99},
}


def test_realistic_strings_decode_to_what_was_encoded():
    """Decodes per second are measured by ``make bench`` (tests/bench/privacy_tcf.py)."""
    strings = [encode(**REALISTIC | {"created": CREATED + timedelta(seconds=n)}) for n in range(50)]

    decoded = [decode(tc_string) for tc_string in strings]

    assert {frozenset(data.vendor_consents) for data in decoded} == {
        frozenset(REALISTIC["vendor_consents"])
    }
    assert [data.created for data in decoded] == [CREATED + timedelta(seconds=n) for n in range(50)]


def test_repeated_strings_come_from_the_cache():
    first = decode(VALID)

    assert decode(VALID) is first
    info = tcf.decode_cache_info()
    assert (info.hits, info.misses, info.entries) == (1, 1, 1)
    decode.cache_clear()
    assert tcf.decode_cache_info().entries == 0


def test_errors_are_not_cached():
    for _ in range(2):
        assert error_code(VALID[:20]) == "truncated"

    assert tcf.decode_cache_info().entries == 0


def test_huge_results_are_not_cached():
    huge = encode(created=CREATED, vendor_consents=range(1, 65_536), vendor_encoding="range")

    assert len(decode(huge).vendor_consents) == 65_535
    assert tcf.decode_cache_info().entries == 0


def test_the_cache_evicts_the_least_recently_used_entry():
    cache = tcf._WeightedLRU(max_entries=3, max_weight=1_000, max_entry_weight=100)
    data = decode(VALID)

    for key in "abc":
        cache.put(key, data, 10)
    cache.get("a")  # "b" is now the least recently used
    cache.put("d", data, 10)

    assert [key for key in "abcd" if cache.get(key)] == ["a", "c", "d"]


def test_the_cache_is_bounded_by_weight():
    cache = tcf._WeightedLRU(max_entries=1_000, max_weight=160, max_entry_weight=10)
    data = decode(VALID)

    for number in range(20):
        cache.put(str(number), data, 10)

    assert cache.info().entries == 16 and cache.info().weight == 160
    assert cache.get("3") is None and cache.get("4") is data
    cache.put("huge", data, 11)  # heavier than one entry may be: never kept
    assert cache.get("huge") is None


def test_strings_differing_only_in_their_times_share_their_sets():
    choices = {"vendor_consents": set(range(1, 600, 2)), "disclosed_vendors": set(range(1, 600))}
    first = decode(encode(created=CREATED, **choices))
    second = decode(encode(created=CREATED + timedelta(hours=1), **choices))

    assert first.created != second.created
    assert first.vendor_consents is second.vendor_consents
    assert first.disclosed_vendors is second.disclosed_vendors


def built_ids(monkeypatch) -> list[int]:
    """Records how many ids each set the decoder builds holds."""
    built: list[int] = []
    bits_to_set, ranges_to_set = tcf._bits_to_set, tcf._ranges_to_set

    def recording(build):
        def wrapper(argument):
            vendors = build(argument)
            built.append(len(vendors))
            return vendors

        return wrapper

    monkeypatch.setattr(tcf, "_bits_to_set", recording(bits_to_set))
    monkeypatch.setattr(tcf, "_ranges_to_set", recording(ranges_to_set))
    return built


def test_too_many_ranged_ids_are_refused_before_they_are_built(monkeypatch):
    built = built_ids(monkeypatch)
    full = enc.uint(65_535, 16) + "1" + enc.range_entries([(1, 65_535)])
    two_restrictions = enc.uint(2, 12) + "".join(
        restriction(purpose, 0, [(1, 65_535)]) for purpose in (1, 2)
    )
    greedy = ".".join(
        [
            enc.to_base64url(fixed() + full + full + two_restrictions),
            enc.to_base64url(enc.segment_bits(1, full)),
            enc.to_base64url(enc.segment_bits(2, full)),
        ]
    )  # 6 × 65,535 ids asked for in ~100 characters

    assert error_code(greedy) == "too_many_vendor_ids"
    assert sum(built) <= tcf.MAX_VENDOR_IDS


def test_too_many_bitfield_ids_are_refused_before_they_are_built(monkeypatch):
    built = built_ids(monkeypatch)
    full = enc.uint(65_535, 16) + "0" + "1" * 65_535

    assert error_code(core_string(full, full, NO_RESTRICTIONS)) == "too_many_vendor_ids"
    assert sum(built) <= tcf.MAX_VENDOR_IDS


def test_shared_parts_count_towards_the_limit_too(monkeypatch):
    monkeypatch.setattr(tcf, "MAX_VENDOR_IDS", 100)
    tc_string = encode(
        created=CREATED, vendor_consents=range(1, 81), disclosed_vendors=range(1, 41)
    )

    for _ in range(2):  # the second time from the shared caches
        decode.cache_clear()
        assert error_code(tc_string) == "too_many_vendor_ids"


def test_the_cache_stays_consistent_under_threads():
    cache = tcf._WeightedLRU(max_entries=8, max_weight=50, max_entry_weight=10)
    errors = []

    def hammer(seed: int) -> None:
        try:
            for number in range(5_000):
                key = (seed * number) % 23
                if cache.get(key) is None:
                    cache.put(key, key, key % 10 + 1)
        except Exception as error:  # any exception fails the test below
            errors.append(error)

    threads = [threading.Thread(target=hammer, args=(seed,)) for seed in range(1, 7)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)

    assert errors == []
    entries = cache._entries
    assert len(entries) <= 8
    assert cache.info().weight == sum(weight for _, weight in entries.values()) <= 50
    assert all(value == key for key, (value, _) in entries.items())


def test_threads_decoding_together_get_the_right_answers():
    strings = {
        encode(created=CREATED + timedelta(seconds=n), vendor_consents={n + 1}): n + 1
        for n in range(300)
    }
    wrong = []

    def decode_all() -> None:
        for tc_string, vendor in strings.items():
            if decode(tc_string).vendor_consents != {vendor}:
                wrong.append(tc_string)

    threads = [threading.Thread(target=decode_all) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert wrong == []
