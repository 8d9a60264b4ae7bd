"""The decoder's fast path (privacy/tcf.py's _decode_fast) against its checked reading.

The fast path reads a well-formed string from one int per segment; on anything else it
returns None and the checked, field-by-field reading raises the error that names the field.
These differential tests hold it to that: on thousands of random and mutated strings it
gives the checked reading's data, or leaves the string to the checked reading (which then
raises), or raises the very ``too_many_vendor_ids`` error the checked reading raises. And the
vendor sets it keeps as ints behave exactly as those kept as "0"/"1" strs.
"""

import copy
import inspect
import pickle
import random
from datetime import timedelta

import pytest

from privacy import tcf
from privacy.tcf import IdSet, PublisherRestriction, TCData, TCStringError, decode
from tests.privacy import tcf_encoder as enc
from tests.privacy.tcf_encoder import encode
from tests.privacy.test_tcf import CREATED
from tests.privacy.test_tcf_vendor_sets import random_fields, random_restrictions


@pytest.fixture(autouse=True)
def _cold_cache():
    decode.cache_clear()
    tcf._clear_shared()
    yield
    decode.cache_clear()
    tcf._clear_shared()


def fast(tc_string: str):
    """The fast path's outcome: ("data", data, vendor ids), ("none",) or ("error", code,
    message); the shared-part caches emptied first, so nothing is taken from the other path."""
    segments = tcf._split(tc_string)
    tcf._clear_shared()
    try:
        found = tcf._decode_fast(segments)
    except TCStringError as error:
        return ("error", error.code, error.message)
    return ("none",) if found is None else ("data", *found)


def checked(tc_string: str):
    """The checked reading's outcome: ("data", data) or ("error", code, message)."""
    segments = tcf._split(tc_string)
    tcf._clear_shared()
    try:
        return ("data", tcf._decode_checked(segments))
    except TCStringError as error:
        return ("error", error.code, error.message)


def small_enough(tc_string: str) -> bool:
    """Every part small enough to be shared: the fast path must read such a string itself."""
    core, *others = tc_string.split(".")
    return 6 * len(core) - 78 <= tcf._SHARED_MAX_BITS and all(
        6 * len(text) <= tcf._SHARED_MAX_BITS for text in others
    )


def assert_agree(tc_string: str, label) -> str:
    """The fast path's outcome agrees with the checked reading's; returns which it was."""
    try:
        tcf._split(tc_string)  # shared by both paths
    except TCStringError:
        return "split"
    mine, theirs = fast(tc_string), checked(tc_string)
    if mine[0] == "data":
        data, vendor_ids = mine[1], mine[2]
        assert theirs[0] == "data", (label, theirs)
        assert data == theirs[1], label
        assert data.to_dict() == theirs[1].to_dict(), label
        for name in TCData.__slots__:  # same types too: frozensets stay frozensets
            assert type(getattr(data, name)) is type(getattr(theirs[1], name)), (label, name)
        # The weight the decode cache charges is the same whichever path read the string.
        weight = (
            82 + len(tc_string.strip()) // 40 + vendor_ids + 8 * len(data.publisher_restrictions)
        )
        assert weight == tcf._weight(tc_string.strip(), theirs[1]), label
        return "data"
    if mine[0] == "error":  # only ever the budget, word for word the checked reading's
        assert mine[1] == "too_many_vendor_ids", label
        assert mine == theirs, label
        return "error"
    # Left to the checked reading: it raises, unless a part is too large to share.
    assert theirs[0] == "error" or not small_enough(tc_string.strip()), (label, theirs)
    return "none"


def test_random_strings_read_by_the_fast_path_equal_the_checked_reading():
    rng = random.Random(20261208)
    outcomes = []
    for number in range(2_000):
        fields = random_fields(rng, number)
        if rng.random() < 0.3:
            fields["publisher_restrictions"] = random_restrictions(rng, rng.choice([8, 600]))
        tc_string = encode(**fields, vendor_encoding=rng.choice(["auto", "bitfield", "range"]))
        outcomes.append(assert_agree(tc_string, number))
    # Well-formed: read by the fast path, or left to the checked one only when a part is too
    # large to share (a bitfield of 3,000 vendors; checked in assert_agree).
    assert "error" not in outcomes and outcomes.count("data") > 1_400


def mutated(rng: random.Random, tc_string: str) -> str:
    """A string with flipped bits, a segment cut short, a segment dropped, repeated or
    out of range — shapes every error of the checked reading."""
    segments = tc_string.split(".")
    index = rng.randrange(len(segments))
    bits = enc.from_base64url(segments[index])
    mutation = rng.choice(["flip", "flip", "cut", "repeat", "drop", "type", "letters"])
    if mutation == "flip":
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(bits))
            bits = bits[:at] + ("1" if bits[at] == "0" else "0") + bits[at + 1 :]
    elif mutation == "cut":
        bits = bits[: rng.randint(12, max(12, len(bits) - 1))]
    elif mutation == "repeat" and len(segments) > 1:
        segments.append(segments[-1])
    elif mutation == "drop" and len(segments) > 1:
        segments.pop()
    elif mutation == "type":
        bits = enc.uint(rng.randint(0, 7), 3) + bits[3:]
    elif mutation == "letters" and index == 0:
        at = rng.choice([108, 207])  # ConsentLanguage, PublisherCC
        bits = bits[:at] + enc.uint(rng.randint(20, 63), 6) + bits[at + 6 :]
    if mutation not in {"repeat", "drop"}:
        segments[index] = enc.to_base64url(bits, pad_to=6)
    return ".".join(segments)


def test_mutated_strings_get_the_checked_readings_answer():
    rng = random.Random(606)
    outcomes = []
    for number in range(3_000):
        fields = random_fields(rng, number)
        if rng.random() < 0.3:
            fields["publisher_restrictions"] = random_restrictions(rng, rng.choice([8, 600]))
        tc_string = mutated(rng, encode(**fields, vendor_encoding=rng.choice(["auto", "range"])))
        outcomes.append(assert_agree(tc_string, (number, tc_string)))
        if outcomes[-1] == "split":
            continue
        # And through decode(): the same data, or the same error word for word.
        decode.cache_clear()
        theirs = checked(tc_string)
        tcf._clear_shared()
        try:
            data = decode(tc_string)
        except TCStringError as error:
            assert theirs == ("error", error.code, error.message), number
        else:
            assert theirs == ("data", data), number
    assert outcomes.count("data") > 300 and outcomes.count("none") > 1_000


def restriction_entry(purpose: int, kind: int, ranges: list[tuple[int, int]]) -> str:
    return enc.uint(purpose, 6) + enc.uint(kind, 2) + enc.range_entries(ranges)


@pytest.mark.parametrize(
    "entries",
    [
        [(1, 0, [(1, 5), (6, 9)])],  # adjacent: one range 1–9
        [(1, 0, [(1, 5), (5, 9)])],  # overlapping
        [(1, 0, [(3, 3), (4, 4), (5, 5)])],  # single ids in a run
        [(1, 0, [(9, 12), (1, 2)])],  # out of order
        [(1, 0, [(1, 2), (10, 12)]), (1, 0, [(3, 9)])],  # a pair repeated: merged
        [(2, 0, [(1, 1)]), (1, 3, [(7, 7)]), (1, 2, [])],  # pairs out of order, one empty
        [(1, 0, [(1, 2), (4, 65_535)]), (2, 1, [(65_535, 65_535)])],
    ],
)
def test_hand_made_restrictions_read_alike(entries):
    section = enc.uint(len(entries), 12) + "".join(restriction_entry(*entry) for entry in entries)
    tc_string = enc.to_base64url(
        enc.core_fixed_bits(created=CREATED) + enc.vendor_section(()) * 2 + section
    )

    assert assert_agree(tc_string, entries) == "data"


@pytest.mark.parametrize("limit", [0, 1, 30, 45, 60, 75, 90, 119, 120])
def test_the_budget_runs_out_at_the_same_part_on_both_paths(monkeypatch, limit):
    """Vendor consents 30 ids, legitimate interests 15, two restrictions 15 each, disclosed
    vendors 30, allowed vendors 15: whichever part overspends, both paths raise there (or
    neither does) — the fast path charges in the checked reading's order, shared parts too."""
    monkeypatch.setattr(tcf, "MAX_VENDOR_IDS", limit)
    tc_string = encode(
        created=CREATED,
        vendor_consents=range(1, 31),
        vendor_legitimate_interests=range(1, 16),
        publisher_restrictions=[(1, 0, range(5, 20)), (2, 1, range(50, 65))],
        disclosed_vendors=range(1, 31),
        allowed_vendors=range(100, 115),
        vendor_encoding="range",
    )
    for _ in range(2):  # the second time from the shared caches
        decode.cache_clear()
        mine, theirs = fast(tc_string), checked(tc_string)
        expected = "data" if limit >= 120 else "error"
        assert theirs[0] == expected and mine[0] == expected
        if expected == "error":
            assert mine == theirs
        tcf._clear_shared()
        decode.cache_clear()
        first = checked(tc_string) if expected == "data" else None
        assert first is None or decode(tc_string) == first[1]


def test_ids_built_by_the_fast_path_stay_within_the_budget(monkeypatch):
    """Sets are charged before they are built, on the fast path as on the checked one."""
    built: list[int] = []
    of_int, of_ranges = IdSet._of_int.__func__, IdSet._of_ranges.__func__

    def recording_int(cls, value, width, count):
        built.append(count)
        return of_int(cls, value, width, count)

    def recording_ranges(cls, ranges, count):
        built.append(count)
        return of_ranges(cls, ranges, count)

    monkeypatch.setattr(IdSet, "_of_int", classmethod(recording_int))
    monkeypatch.setattr(IdSet, "_of_ranges", classmethod(recording_ranges))
    full = enc.uint(65_535, 16) + "1" + enc.range_entries([(1, 65_535)])
    bitfield = enc.uint(1_900, 16) + "0" + "1" * 1_900
    greedy = [
        (None, enc.to_base64url(enc.core_fixed_bits(created=CREATED) + full + full + "0" * 12)),
        (
            None,
            enc.to_base64url(
                enc.core_fixed_bits(created=CREATED) + full[:17] + "0" * 12 + full + "0" * 12
            )
            + "."
            + enc.to_base64url(enc.segment_bits(1, full)),
        ),
        (3_000, enc.to_base64url(enc.core_fixed_bits(created=CREATED) + bitfield * 2 + "0" * 12)),
    ]
    for limit, tc_string in greedy:
        if limit is not None:
            monkeypatch.setattr(tcf, "MAX_VENDOR_IDS", limit)
        assert small_enough(tc_string)  # read by the fast path
        built.clear()
        with pytest.raises(TCStringError) as raised:
            decode(tc_string)
        assert raised.value.code == "too_many_vendor_ids"
        assert 0 < sum(built) <= tcf.MAX_VENDOR_IDS


# --- sets kept as ints ---------------------------------------------------------------------


def int_set(bits: str) -> IdSet:
    return IdSet._of_int(int(bits, 2) if bits else 0, len(bits), bits.count("1"))


def random_bits(rng: random.Random) -> str:
    width = rng.choice([0, 1, 2, 7, 64, 600, 1_500])
    density = rng.choice([0.0, 0.02, 0.5, 1.0])
    bits = "".join("1" if rng.random() < density else "0" for _ in range(width))
    return bits + "0" * rng.choice([0, 0, 1, 9])  # bitfields may end in "0"s


def test_a_set_kept_as_an_int_behaves_as_the_same_set_kept_as_a_str():
    rng = random.Random(31)
    for _ in range(400):
        bits = random_bits(rng)
        as_int, as_str = int_set(bits), IdSet(bits)
        ids = frozenset(i + 1 for i, bit in enumerate(bits) if bit == "1")
        probes = {-1, 0, 1, 2, len(bits), len(bits) + 1, 65_535, 65_536, *ids}
        probes |= {i + 1 for i in ids} | {i - 1 for i in ids}

        assert {p for p in probes if p in as_int} == {p for p in probes if p in as_str} == ids
        assert len(as_int) == len(ids) and list(as_int) == sorted(ids)
        assert as_int == as_str and as_str == as_int and as_int == ids and ids == as_int
        assert hash(as_int) == hash(as_str) == hash(ids)
        assert (1.0 in as_int) == (1 in ids) and ("1" in as_int) is False
        for twin in (
            pickle.loads(pickle.dumps(as_int)),  # noqa: S301 - our own bytes
            copy.deepcopy(as_int),
            copy.copy(as_int),
        ):
            assert type(twin) is IdSet and twin == as_int and list(twin) == sorted(ids)
        assert pickle.dumps(as_int) == pickle.dumps(as_str)
        if ids:
            assert as_int != int_set(bits.replace("1", "0", 1))
            assert as_int != ids - {min(ids)}
            ranges = IdSet._of_ranges(tuple((i, i) for i in sorted(ids)), len(ids))
            assert as_int == ranges and ranges == as_int


def test_sets_kept_as_ints_of_different_widths_are_equal_when_their_ids_are():
    assert int_set("0110") == int_set("011000") == int_set("011") == IdSet("01100")
    assert int_set("") == int_set("000") == IdSet() == frozenset()
    assert int_set("0110") != int_set("0011") and int_set("011") != int_set("0110001")
    assert int_set("1") != int_set("01") and int_set("10") != int_set("01")


# --- objects built without their __init__ ---------------------------------------------------


def test_data_built_by_setting_its_slots_equals_data_built_by_its_init():
    data = decode(
        encode(
            created=CREATED,
            last_updated=CREATED + timedelta(days=1),
            vendor_consents={2, 9},
            publisher_restrictions=[(3, 1, {4})],
            disclosed_vendors={9},
            publisher_consents={1},
            num_custom_purposes=2,
            custom_purpose_consents={2},
        )
    )
    values = tuple(object() for _ in TCData.__slots__)  # every field distinct
    built, expected = tcf._new_tcdata(*values), TCData(*values)

    assert [getattr(built, name) for name in TCData.__slots__] == list(values)
    assert built == expected and type(built) is TCData
    assert tcf._new_tcdata(*(getattr(data, name) for name in TCData.__slots__)) == data
    assert list(inspect.signature(tcf._new_tcdata).parameters) == list(TCData.__slots__)
    restriction = tcf._new_restriction(3, 1, data.publisher_restrictions[0].vendors)
    assert restriction == PublisherRestriction(3, 1, frozenset({4}))
    assert type(restriction) is PublisherRestriction
    with pytest.raises(AttributeError):
        built.version = 3  # still frozen
