"""Hostile publisher-restriction sections: the one-pass reader (tcf._restriction_ranges)
refuses exactly what the field-by-field reader refuses, with the same error, and sets kept as
merged ranges answer ``in`` exactly as a bitfield does, at every range edge."""

import pickle
import random

import pytest

from privacy import tcf
from privacy.tcf import IdSet
from tests.privacy import tcf_encoder as enc


def entry(start: int, end: int | None = None) -> str:
    """One range entry as written, in whatever order or value (the encoder only writes
    well-formed ones)."""
    if end is None:
        return "0" + enc.uint(start, 16)
    return "1" + enc.uint(start, 16) + enc.uint(end, 16)


def restriction(purpose: int, kind: int, *entries: str, count: int | None = None) -> str:
    return (
        enc.uint(purpose, 6)
        + enc.uint(kind, 2)
        + enc.uint(len(entries) if count is None else count, 12)
        + "".join(entries)
    )


def section(*restrictions: str, count: int | None = None) -> str:
    return enc.uint(len(restrictions) if count is None else count, 12) + "".join(restrictions)


def outcome(read, bits: str):
    try:
        found = read(bits, 300, tcf._Budget())
    except tcf.TCStringError as error:
        return ("error", error.code, error.message)
    return [(r.purpose_id, r.restriction_type, tuple(r.vendors)) for r in found]


def same(bits: str):
    fast, checked = (
        outcome(tcf._read_restrictions, bits),
        outcome(tcf._read_restrictions_checked, bits),
    )
    assert fast == checked, bits
    return fast


WELL_FORMED = section(
    restriction(2, 0, entry(500, 600), entry(1, 10), entry(300)),  # out of order
    restriction(1, 1, entry(65_535), entry(11, 20), entry(21, 30)),  # adjacent, the last id
    restriction(2, 0, entry(5, 12)),  # a repeated pair, overlapping
)


def test_hostile_sections_get_the_checked_readers_answer():
    cases = {
        "out of order, merged": WELL_FORMED,
        "count far above the entries": section(restriction(1, 0, entry(7)), count=4_095),
        "entries far above the bits": section(restriction(1, 0, entry(7), count=4_095)),
        "vendor 0 alone": section(restriction(1, 0, entry(0))),
        "vendor 0 starting a range": section(restriction(1, 0, entry(0, 9))),
        "range ending before its start": section(restriction(1, 0, entry(9, 3))),
        "a range from 0 ending before it": section(restriction(1, 0, entry(0, 0))),
        "purpose 0": section(restriction(0, 0, entry(3))),
        "purpose 63, type 3": section(restriction(63, 3, entry(3))),
        "no restrictions, padding after": section() + "101",
        "every id, four times over": section(
            *(restriction(p, 0, entry(1, 65_535)) for p in (1, 2, 3, 4))
        ),
    }
    answers = {name: same(bits) for name, bits in cases.items()}

    assert answers["out of order, merged"] == [
        (1, 1, (*range(11, 31), 65_535)),
        (2, 0, (*range(1, 13), 300, *range(500, 601))),
    ]
    assert answers["purpose 63, type 3"] == [(63, 3, (3,))]
    assert answers["no restrictions, padding after"] == []
    codes = {name: answer[1] for name, answer in answers.items() if isinstance(answer, tuple)}
    assert codes == {
        "count far above the entries": "truncated",
        "entries far above the bits": "truncated",
        "vendor 0 alone": "bad_vendor_id",
        "vendor 0 starting a range": "bad_vendor_id",
        "range ending before its start": "range_end_before_start",
        "a range from 0 ending before it": "bad_vendor_id",
        "purpose 0": "bad_purpose_id",
        "every id, four times over": "too_many_vendor_ids",
    }


def test_every_truncation_of_a_section_gets_the_checked_readers_answer():
    for length in range(len(WELL_FORMED) + 1):
        same(WELL_FORMED[:length])


def reference(ranges) -> set[int]:
    return {v for start, end in ranges for v in range(start, end + 1)}


@pytest.mark.parametrize("seed", range(40))
def test_membership_by_bisection_is_right_at_every_range_edge(seed):
    """A set of ranges answers ``in`` as its bitfield does: at each start and end, one
    before and one after, 0, 1, 65,535, 65,536, and non-ints as a frozenset would."""
    rng = random.Random(seed)
    ranges = []
    for _ in range(rng.randint(1, 12)):
        start = rng.choice([1, 2, rng.randint(1, 65_535), 65_535])
        ranges.append((start, min(65_535, start + rng.choice([0, 0, 1, rng.randint(0, 900)]))))
    ids = tcf._range_set(list(ranges), tcf._Budget())
    expected = reference(ranges)
    bitfield = IdSet("".join("1" if v in expected else "0" for v in range(1, max(expected) + 1)))

    probes = {-1, 0, 1, 2, 65_534, 65_535, 65_536, 10**9}
    for start, end in ranges:
        probes |= {start - 1, start, start + 1, end - 1, end, end + 1}
    for vendor in sorted(probes):
        assert (vendor in ids) is (vendor in expected) is (vendor in bitfield), vendor
    assert True not in ids or 1 in expected  # a bool is asked as a frozenset would
    assert 5.0 in ids if 5 in expected else 5.0 not in ids
    assert len(ids) == len(expected) and ids == bitfield and hash(ids) == hash(bitfield)
    assert list(ids) == sorted(expected)
    assert pickle.loads(pickle.dumps(ids)) == ids  # noqa: S301 - our own bytes
