"""Vendor sets decode lazily (privacy/tcf.py's IdSet) and still mean exactly what was encoded.

A differential test against the independent encoder's own input fields (thousands of seeded
random strings, every vendor encoding, restrictions and optional segments), then the set
semantics an IdSet must share with a frozenset, and the bounded decode cache under a flood.
"""

import copy
import pickle
import random
from datetime import timedelta

import pytest

from privacy import tcf
from privacy.tcf import IdSet, decode
from tests.privacy import tcf_encoder as enc
from tests.privacy.tcf_encoder import encode
from tests.privacy.test_tcf import CREATED, expected_data


@pytest.fixture(autouse=True)
def _cold_cache():
    decode.cache_clear()
    tcf._clear_shared()
    yield
    decode.cache_clear()


def random_ids(rng: random.Random, max_id: int) -> set[int]:
    """Scattered ids, runs, both, or none (ranges and bitfields both get exercised)."""
    shape = rng.choice(["none", "scattered", "runs", "dense", "mixed"])
    if shape == "none" or max_id == 0:
        return set()
    if shape == "scattered":
        return {rng.randint(1, max_id) for _ in range(rng.randint(1, 30))}
    if shape == "dense":
        return {v for v in range(1, max_id + 1) if rng.random() < 0.5}
    runs = set()
    for _ in range(rng.randint(1, 6)):
        start = rng.randint(1, max_id)
        runs |= set(range(start, min(max_id, start + rng.randint(0, 200)) + 1))
    if shape == "mixed":
        runs |= {rng.randint(1, max_id) for _ in range(10)}
    return runs


def random_fields(rng: random.Random, number: int) -> dict:
    max_id = rng.choice([0, 1, 8, 100, 600, 1_200, 3_000])
    custom = rng.randint(0, 12)
    fields = {
        "created": CREATED + timedelta(seconds=number * 3.7),
        "last_updated": CREATED + timedelta(seconds=number * 3.7 + rng.randint(0, 10**6) / 10),
        "cmp_id": rng.randint(0, 4095),
        "cmp_version": rng.randint(0, 4095),
        "consent_screen": rng.randint(0, 63),
        "consent_language": rng.choice(["EN", "FR", "DE", "ZZ", "AA"]),
        "vendor_list_version": rng.randint(0, 4095),
        "policy_version": rng.randint(0, 63),
        "is_service_specific": rng.random() < 0.5,
        "use_non_standard_texts": rng.random() < 0.5,
        "special_feature_optins": {v for v in range(1, 13) if rng.random() < 0.3},
        "purpose_consents": {v for v in range(1, 25) if rng.random() < 0.5},
        "purpose_legitimate_interests": {v for v in range(1, 25) if rng.random() < 0.3},
        "purpose_one_treatment": rng.random() < 0.2,
        "publisher_cc": rng.choice(["FR", "DE", "AA", "ZZ"]),
        "vendor_consents": random_ids(rng, max_id),
        "vendor_legitimate_interests": random_ids(rng, max_id),
        "publisher_restrictions": [
            (rng.randint(1, 24), rng.randint(0, 3), random_ids(rng, max_id) or {1})
            for _ in range(rng.choice([0, 0, 1, 2, 3]))
        ],
    }
    # A (purpose, type) pair appears once: the decoder merges repeats (tested in test_tcf.py).
    fields["publisher_restrictions"] = list(
        {(p, t): (p, t, ids) for p, t, ids in fields["publisher_restrictions"]}.values()
    )
    if rng.random() < 0.4:
        fields["disclosed_vendors"] = random_ids(rng, max_id)
    if rng.random() < 0.1:
        fields["allowed_vendors"] = random_ids(rng, max_id)
    if rng.random() < 0.4:
        fields |= {
            "publisher_consents": {v for v in range(1, 25) if rng.random() < 0.5},
            "publisher_legitimate_interests": {v for v in range(1, 25) if rng.random() < 0.2},
            "custom_purpose_consents": {v for v in range(1, custom + 1) if rng.random() < 0.5},
            "custom_purpose_legitimate_interests": {
                v for v in range(1, custom + 1) if rng.random() < 0.5
            },
            "num_custom_purposes": custom,
        }
    return fields


VENDOR_FIELDS = (
    "vendor_consents",
    "vendor_legitimate_interests",
    "disclosed_vendors",
    "allowed_vendors",
)


def test_thousands_of_random_strings_decode_to_the_encoders_input():
    rng = random.Random(20261206)
    for number in range(2_500):
        fields = random_fields(rng, number)
        encoding = rng.choice(["auto", "bitfield", "range"])
        data = decode(encode(**fields, vendor_encoding=encoding))
        expected = expected_data(**fields)

        assert data == expected, (number, encoding)
        assert data.to_dict() == expected.to_dict(), (number, encoding)
        for name in VENDOR_FIELDS:  # membership answered from the bits, never built
            ids, wanted = getattr(data, name), getattr(expected, name)
            assert len(ids) == len(wanted)
            probes = {0, 1, 2, 65_535, *wanted, *(v + 1 for v in wanted), *(v - 1 for v in wanted)}
            assert {v for v in probes if v in ids} == wanted, (number, name)
        for restriction, wanted in zip(
            data.publisher_restrictions, expected.publisher_restrictions, strict=True
        ):
            assert {v for v in range(0, 3_002) if v in restriction.vendors} == wanted.vendors
            for vendor in wanted.vendors:
                assert (
                    data.restriction_for(purpose_id=restriction.purpose_id, vendor_id=vendor)
                    is not None
                )


def test_vendor_sets_are_not_built_until_hashed():
    data = decode(encode(created=CREATED, vendor_consents=range(1, 600, 2)))

    assert type(data.vendor_consents) is IdSet
    assert 599 in data.vendor_consents and 600 not in data.vendor_consents
    assert len(data.vendor_consents) == 300
    assert list(data.vendor_consents) == list(range(1, 600, 2))  # ascending, from the bits
    assert data.to_dict()["vendor_consents"] == list(range(1, 600, 2))
    assert data.vendor_consents._frozen is None  # none of the above built it
    assert hash(data.vendor_consents) == hash(frozenset(range(1, 600, 2)))
    assert data.vendor_consents._frozen == frozenset(range(1, 600, 2))
    assert list(data.vendor_consents) == list(range(1, 600, 2))


def test_one_set_encoded_as_bitfield_or_ranges_decodes_equal():
    ids = {1, 2, 3, 50, 51, 400}
    as_bits = decode(encode(created=CREATED, vendor_consents=ids, vendor_encoding="bitfield"))
    as_ranges = decode(encode(created=CREATED, vendor_consents=ids, vendor_encoding="range"))
    longer = IdSet("111" + "0" * 46 + "11" + "0" * 348 + "1" + "0" * 200)  # MaxVendorId 600

    assert as_bits.vendor_consents == as_ranges.vendor_consents == longer == ids
    assert as_bits == as_ranges
    assert hash(as_bits) == hash(as_ranges)
    assert as_bits.vendor_consents != IdSet("111")
    assert IdSet("0000") == IdSet() == frozenset() == set()


def test_an_id_set_behaves_as_the_frozenset_of_its_ids():
    ids = IdSet("0110100001")  # 2, 3, 5, 10
    same = frozenset({2, 3, 5, 10})

    assert ids == same and same == ids and ids == {2, 3, 5, 10}
    assert ids != frozenset({2, 3, 5}) and ids != {2, 3, 5, 11} and ids != [2, 3, 5, 10]
    assert hash(ids) == hash(same)
    assert {ids: "x"}[same] == "x"
    assert len(ids) == 4 and bool(ids) and not IdSet()
    assert set(ids) == same
    # Membership answers what a frozenset answers, for any object.
    for probe in (0, 1, 2, 5, 10, 11, -3, 2**70, True, 2.0, 2.5, "2", None, (2,)):
        assert (probe in ids) == (probe in same), probe
    with pytest.raises(TypeError):
        [2] in ids  # noqa: B015 - unhashable, as with a frozenset
    # Set operations give frozensets, on either side.
    assert ids & {2, 10, 11} == frozenset({2, 10})
    assert {1} | ids == frozenset({1, 2, 3, 5, 10})
    assert type(ids - {2}) is frozenset and ids - {2} == {3, 5, 10}
    assert ids ^ {2, 4} == {3, 4, 5, 10}
    assert ids <= {2, 3, 5, 10, 11} and ids < frozenset(range(20)) and ids >= {3}
    assert ids.isdisjoint({1, 4}) and not ids.isdisjoint({5})
    # Copies and pickles keep the ids.
    for twin in (copy.copy(ids), copy.deepcopy(ids), pickle.loads(pickle.dumps(ids))):  # noqa: S301
        assert type(twin) is IdSet and twin == same
    assert repr(ids) == "IdSet([2, 3, 5, 10])"


def test_a_decoded_string_pickles_and_copies():
    data = decode(encode(created=CREATED, vendor_consents={3, 9}, disclosed_vendors={9}))

    assert pickle.loads(pickle.dumps(data)) == data  # noqa: S301 - our own bytes
    assert copy.deepcopy(data) == data


def heavy_string(number: int, vendors: int) -> str:
    """A distinct string naming vendors 1..``vendors`` in a few bytes (one range entry)."""
    return enc.to_base64url(
        enc.core_fixed_bits(created=CREATED + timedelta(seconds=number))
        + enc.uint(vendors, 16)
        + "1"
        + enc.range_entries([(1, vendors)])
        + enc.vendor_section(())
        + enc.uint(0, 12)
    )


def test_a_flood_of_distinct_heavy_strings_keeps_the_cache_within_its_weight():
    """Vendor sets are charged as if built (iterating builds them): memory stays bounded."""
    for number in range(60):  # heavier than one entry may be: never kept
        assert len(decode(heavy_string(number, 65_535)).vendor_consents) == 65_535
    assert tcf.decode_cache_info().entries == 0

    for number in range(120):  # kept only up to the cache's weight
        assert len(decode(heavy_string(number, 60_000)).vendor_consents) == 60_000
    info = tcf.decode_cache_info()
    assert info.entries == tcf.CACHE_MAX_WEIGHT // 60_082  # 60,000 ids, 82 for the rest
    assert info.weight <= tcf.CACHE_MAX_WEIGHT


def random_restrictions(rng: random.Random, max_id: int) -> list[tuple[int, int, set[int]]]:
    """Many restrictions, (purpose, type) pairs repeated, ids scattered and in runs."""
    return [
        (rng.randint(1, 24), rng.randint(0, 3), random_ids(rng, max_id) or {rng.randint(1, max_id)})
        for _ in range(rng.randint(1, 12))
    ]


def merged(restrictions) -> list[tuple[int, int, set[int]]]:
    """What the decoder makes of repeated (purpose, type) pairs: one entry, the ids united."""
    by_key: dict[tuple[int, int], set[int]] = {}
    for purpose, kind, ids in restrictions:
        by_key.setdefault((purpose, kind), set()).update(ids)
    return [(p, t, ids) for (p, t), ids in sorted(by_key.items())]


def test_restriction_heavy_strings_decode_to_the_encoders_input():
    """Restrictions read in one pass (tcf._restriction_ranges) mean what was encoded: up to
    12 restrictions, repeated pairs merged, ids in runs and scattered, beside random cores."""
    rng = random.Random(20261207)
    for number in range(1_500):
        fields = random_fields(rng, number)
        max_id = rng.choice([8, 100, 600, 1_200, 3_000])
        restrictions = random_restrictions(rng, max_id)
        fields["publisher_restrictions"] = merged(restrictions)
        tc_string = encode(
            **{**fields, "publisher_restrictions": restrictions},
            vendor_encoding=rng.choice(["auto", "bitfield", "range"]),
        )
        data = decode(tc_string)

        assert data == expected_data(**fields), number
        for restriction, (purpose, kind, ids) in zip(
            data.publisher_restrictions, fields["publisher_restrictions"], strict=True
        ):
            assert (restriction.purpose_id, restriction.restriction_type) == (purpose, kind)
            assert len(restriction.vendors) == len(ids)
            assert {v for v in range(0, max_id + 2) if v in restriction.vendors} == ids


def _outcome(read, bits: str):
    """What a restriction reader makes of ``bits``: its restrictions as plain tuples, or the
    error's code and message."""
    try:
        restrictions = read(bits, 300, tcf._Budget())
    except tcf.TCStringError as error:
        return ("error", error.code, error.message)
    return [(r.purpose_id, r.restriction_type, frozenset(r.vendors)) for r in restrictions]


def test_the_one_pass_restriction_reader_agrees_with_the_checked_one():
    """Well-formed, cut short, and mutated restriction sections (a purpose 0, a vendor 0, a
    range ending before its start, flipped bits, more ids than the budget allows): the fast
    reader gives the same restrictions or the same error, word for word, as the field-by-field
    one it falls back to."""
    rng = random.Random(7)
    for _ in range(3_000):
        bits = enc.publisher_restrictions_bits(random_restrictions(rng, rng.choice([8, 600])))
        mutation = rng.choice(["none", "cut", "flip", "purpose0", "vendor0", "backwards"])
        if mutation == "cut":
            bits = bits[: rng.randint(0, len(bits))]
        elif mutation == "flip":
            for _ in range(rng.randint(1, 4)):
                at = rng.randrange(len(bits))
                bits = bits[:at] + ("1" if bits[at] == "0" else "0") + bits[at + 1 :]
        elif mutation == "purpose0":
            bits = bits[:12] + "000000" + bits[18:]
        elif mutation == "vendor0":
            bits = bits[:32] + "0" + "0" * 16 + bits[49:]
        elif mutation == "backwards":
            bits = bits[:32] + "1" + enc.uint(500, 16) + enc.uint(20, 16) + bits[32:]
        assert _outcome(tcf._read_restrictions, bits) == _outcome(
            tcf._read_restrictions_checked, bits
        ), (mutation, bits)
    full = enc.uint(3, 12) + "".join(
        enc.uint(p, 6)
        + enc.uint(0, 2)
        + enc.uint(1, 12)
        + "1"
        + enc.uint(1, 16)
        + enc.uint(65_535, 16)
        for p in (1, 2, 3)
    )
    assert _outcome(tcf._read_restrictions, full)[:2] == ("error", "too_many_vendor_ids")
    assert _outcome(tcf._read_restrictions, full) == _outcome(tcf._read_restrictions_checked, full)
