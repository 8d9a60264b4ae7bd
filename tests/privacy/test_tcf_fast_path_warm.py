"""The decoder's fast path with its shared-part caches warm (privacy/tcf.py's _decode_fast).

tests/privacy/test_tcf_fast_path.py compares the fast path with the checked reading with the
shared caches emptied before each string, so the branches that take a core, a restriction
section or a segment from those caches — charging its vendor ids to the budget, keyed by an
int of the part's bits after a leading 1 — are not exercised there. Here strings are decoded
one after another through ``decode()`` with the shared caches warm, and each answer must be
the one the checked reading gives the string from cold: the same data, or the same error
word for word. A part whose bits equal a cached part's as a number but not in length (the
same bits after more leading 0s) is a different part, and a part taken from a cache is
charged its ids as if it were read.
"""

from datetime import timedelta

import pytest

from privacy import tcf
from privacy.tcf import TCStringError, decode
from tests.privacy import tcf_encoder as enc
from tests.privacy.test_tcf import CREATED


@pytest.fixture(autouse=True)
def _cold_cache():
    decode.cache_clear()
    tcf._clear_shared()
    yield
    decode.cache_clear()
    tcf._clear_shared()


def cold_checked(tc_string: str):
    """The checked reading's answer with every cache empty: ("data", data) or ("error", code,
    message)."""
    decode.cache_clear()
    tcf._clear_shared()
    try:
        return ("data", tcf._decode_checked(tcf._split(tc_string)))
    except TCStringError as error:
        return ("error", error.code, error.message)


def warm_decode(tc_string: str):
    """``decode()``'s answer with its own cache emptied and the shared-part caches as they are."""
    decode.cache_clear()
    try:
        return ("data", decode(tc_string))
    except TCStringError as error:
        return ("error", error.code, error.message)


def assert_same(answer, expected, label) -> None:
    assert answer[0] == expected[0], (label, answer, expected)
    if answer[0] == "data":
        assert answer[1] == expected[1], label
        assert answer[1].to_dict() == expected[1].to_dict(), label
    else:
        assert answer == expected, label


def core(*, created=CREATED, consents=range(1, 31), interests=range(1, 16), restrictions=None):
    """A core segment's bits: two vendor bitfields of 40 vendors, two restrictions."""
    if restrictions is None:
        restrictions = [(1, 0, range(5, 20)), (2, 1, range(50, 65))]
    return (
        enc.core_fixed_bits(created=created, last_updated=created, cmp_id=7, consent_language="FR")
        + enc.vendor_section(consents, encoding="bitfield", max_vendor_id=40)
        + enc.vendor_section(interests, encoding="bitfield", max_vendor_id=40)
        + enc.publisher_restrictions_bits(restrictions)
    )


DISCLOSED = enc.to_base64url(
    enc.segment_bits(1, enc.vendor_section(range(1, 31), encoding="range"))
)
ALLOWED = enc.to_base64url(enc.segment_bits(2, enc.vendor_section(range(100, 115))))
PUBLISHER_TC = enc.to_base64url(enc.publisher_tc_bits({1, 2}, {3}, {1}, set(), 2))


def with_zeros_after(bits: str, at: int) -> str:
    """``bits`` with 24 0 bits inserted at ``at``: the bits after ``at`` (with the same 0s
    after them, see ``text``) keep their value as a number, in a part 4 characters longer."""
    return bits[:at] + "0" * 24 + bits[at:]


def text(bits: str) -> str:
    """A segment's text padded to whole characters only, so that a segment 24 bits longer
    ends in the same padding."""
    return enc.to_base64url(bits, pad_to=6)


def strings() -> list[tuple[str, str]]:
    """(label, string), in decoding order: each part shared with a string decoded before."""
    later = CREATED + timedelta(hours=3)
    base = core()
    rest_at = 78  # the core's bits after LastUpdated
    restrictions_at = 213 + 2 * (17 + 40)  # after the two vendor sections
    return [
        ("base", ".".join([text(base), DISCLOSED, ALLOWED, PUBLISHER_TC])),
        # The same core after its times: taken from the shared cores.
        ("same core, other times", text(core(created=later)) + "." + DISCLOSED),
        # Other vendor consents (same width), the same restrictions: the shared restrictions.
        ("same restrictions", text(core(consents=range(2, 40, 3))) + "." + ALLOWED),
        # The bits after the times as a number equal to the base's, 24 bits longer: CmpId and
        # CmpVersion 0 and every later field read 24 bits further on — not the base's core.
        ("core after 24 zero bits", text(with_zeros_after(base, rest_at))),
        # The restrictions' bits as a number equal to the base's, 24 bits longer:
        # NumPubRestrictions 0 — no restriction, not the base's two.
        (
            "restrictions after 24 zero bits",
            text(with_zeros_after(core(consents=range(3, 40, 3)), restrictions_at)),
        ),
        ("base again", ".".join([text(core(created=later)), PUBLISHER_TC])),
    ]


def test_parts_taken_from_the_shared_caches_give_the_cold_checked_answer():
    cases = strings()
    expected = [cold_checked(tc_string) for _, tc_string in cases]
    # The longer core is refused (its fields read 24 bits further on); the longer
    # restrictions are none.
    assert expected[3][:2] == ("error", "range_end_before_start")
    assert expected[4][1].publisher_restrictions == ()
    decode.cache_clear()
    tcf._clear_shared()
    for (label, tc_string), want in zip(cases, expected, strict=True):
        assert_same(warm_decode(tc_string), want, label)
    # The cases reached the caches they are about: the fast path filled them.
    assert tcf._SHARED_CORES.info().hits >= 2 and tcf._SHARED_RESTRICTIONS.info().hits >= 1
    assert tcf._SHARED_SEGMENTS.info().hits >= 2


@pytest.mark.parametrize("limit", [0, 29, 30, 44, 45, 59, 75, 89, 90, 104, 119, 120, 1_000])
@pytest.mark.parametrize(
    "shared", ["core", "restrictions", "disclosed", "allowed"], ids=lambda name: name
)
def test_parts_taken_from_the_shared_caches_are_charged_to_the_budget(monkeypatch, limit, shared):
    """Vendor consents 30 ids, legitimate interests 15, restrictions 15 + 15, disclosed 30,
    allowed 15 (120 in all): with the part ``shared`` taken from a cache the fast path filled,
    the budget runs out where the cold checked reading says (or it does not)."""
    later = CREATED + timedelta(hours=3)
    target = ".".join([enc.to_base64url(core(created=later)), DISCLOSED, ALLOWED])
    if shared == "core":  # same bits after the times
        warmer = enc.to_base64url(core())
    elif shared == "restrictions":  # other consents of the same count, same restrictions
        warmer = enc.to_base64url(core(consents=range(2, 32)))
    else:
        warmer = (
            enc.to_base64url(core(consents=()))
            + "."
            + (DISCLOSED if shared == "disclosed" else ALLOWED)
        )
    monkeypatch.setattr(tcf, "MAX_VENDOR_IDS", limit)
    want = cold_checked(target)
    assert want[0] == ("data" if limit >= 120 else "error")

    decode.cache_clear()
    tcf._clear_shared()
    monkeypatch.setattr(tcf, "MAX_VENDOR_IDS", 1_000)
    hits = {
        "core": tcf._SHARED_CORES,
        "restrictions": tcf._SHARED_RESTRICTIONS,
        "disclosed": tcf._SHARED_SEGMENTS,
        "allowed": tcf._SHARED_SEGMENTS,
    }[shared]
    decode(warmer)
    before = hits.info().hits
    monkeypatch.setattr(tcf, "MAX_VENDOR_IDS", limit)

    assert_same(warm_decode(target), want, (shared, limit))
    # The part was taken from the cache, unless the budget ran out before it.
    reached = {"core": 0, "restrictions": 45, "disclosed": 75, "allowed": 105}[shared]
    assert (hits.info().hits > before) == (limit >= reached)
