"""The shared-part caches of privacy/tcf.py (``_Generations``): two generations of plain
dicts, bounded by entries and weight, and picky — a part kept on its second sighting only —
while lookups are nearly all misses (strings whose every part differs).

The decoder's answers with the caches picky must be the cold checked reading's, and a part
taken from a cache once picky must be charged to the budget as before.
"""

import sys
import threading
from datetime import timedelta

import pytest

from privacy import tcf
from privacy.tcf import TCStringError, decode
from tests.privacy import tcf_encoder as enc
from tests.privacy.test_tcf import CREATED
from tests.privacy.test_tcf_fast_path_warm import (
    ALLOWED,
    DISCLOSED,
    assert_same,
    cold_checked,
    core,
    strings,
)

SHARED = (tcf._SHARED_CORES, tcf._SHARED_RESTRICTIONS, tcf._SHARED_SEGMENTS)


@pytest.fixture(autouse=True)
def _cold_cache():
    decode.cache_clear()
    tcf._clear_shared()
    yield
    decode.cache_clear()
    tcf._clear_shared()


def picky_decode(tc_string: str):
    """``decode()``'s answer with its own cache emptied (not by ``decode.cache_clear()``,
    which ends pickiness) and the shared-part caches as they are."""
    tcf._DECODED.clear()
    try:
        return ("data", decode(tc_string))
    except TCStringError as error:
        return ("error", error.code, error.message)


def make_picky(cache: tcf._Generations) -> None:
    """A window of misses with no hit, as strings whose every part differs give."""
    for number in range(cache._half_entries):
        assert cache.get(("never put", number)) is None
    assert cache._picky


def test_generations_are_bounded_by_entries_and_weight():
    cache = tcf._Generations(max_entries=8, max_weight=40, max_entry_weight=10)

    for number in range(50):
        cache.put(number, str(number), number % 10 + 1)
        info = cache.info()
        assert info.entries <= 8 and info.weight <= 40
        assert info.weight == sum(
            weight for entries in (cache._young, cache._old) for _, weight in entries.values()
        )
    cache.put("heavy", "heavy", 11)  # heavier than one entry may be: never kept
    assert cache.get("heavy") is None
    cache.put("half", "half", 21)  # heavier than a generation: never kept either
    assert cache.get("half") is None


def test_an_entry_used_again_outlives_the_generation_it_was_put_in():
    cache = tcf._Generations(max_entries=8, max_weight=1_000, max_entry_weight=10)
    for key in "abcd":
        cache.put(key, key, 1)
    cache.put("e", "e", 1)  # the young generation was full: a-d are the old one now
    assert cache.get("a") == "a"  # put in the young generation again
    for key in "fgh":
        cache.put(key, key, 1)  # the young one full again (e, a, f, g): b-d dropped

    assert [key for key in "abcdefgh" if cache.get(key)] == ["a", "e", "f", "g", "h"]


def test_picky_after_a_window_of_misses_and_not_once_hits_come_back():
    cache = tcf._Generations(max_entries=8, max_weight=1_000, max_entry_weight=10)
    assert not cache._picky
    make_picky(cache)

    cache.put("once", "once", 1)
    assert cache.get("once") is None  # a first sighting is not kept
    cache.put("twice", "twice", 1)
    assert cache.get("twice") is None
    cache.put("twice", "twice", 1)
    assert cache.get("twice") == "twice"  # the second is

    # A window in which one lookup in four is a hit: keeping on first sighting again.
    for _ in range(3):
        assert cache.get("twice") == "twice"
    for number in range(cache._half_entries):
        assert cache.get(("missing", number)) is None
    assert not cache._picky
    cache.put("new", "new", 1)
    assert cache.get("new") == "new"


def test_the_seen_keys_are_bounded():
    cache = tcf._Generations(max_entries=8, max_weight=1_000, max_entry_weight=10)
    make_picky(cache)
    for number in range(100):
        cache.put(number, number, 1)
        assert len(cache._seen) <= cache._half_entries
    assert cache.info().entries == 0


def test_clear_forgets_pickiness_and_seen_keys():
    cache = tcf._Generations(max_entries=8, max_weight=1_000, max_entry_weight=10)
    make_picky(cache)
    cache.put("seen", "seen", 1)
    cache.clear()

    assert not cache._picky and not cache._seen
    cache.put("new", "new", 1)
    assert cache.get("new") == "new"


def test_generations_stay_consistent_under_threads():
    cache = tcf._Generations(max_entries=8, max_weight=50, max_entry_weight=10)
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
    assert len(cache._young) <= 4 and len(cache._old) <= 4
    for entries, weight in ((cache._young, cache._young_weight), (cache._old, cache._old_weight)):
        assert weight == sum(weight for _, weight in entries.values()) <= 25
        assert all(value == key for key, (value, _) in entries.items())
    assert len(cache._seen) <= 4


def test_picky_caches_give_the_cold_checked_answer():
    """R1's warm sequence (tests/privacy/test_tcf_fast_path_warm.py) with every shared cache
    picky, each string decoded twice so that its parts are kept."""
    cases = strings()
    expected = [cold_checked(tc_string) for _, tc_string in cases]
    decode.cache_clear()
    tcf._clear_shared()
    for cache in SHARED:
        make_picky(cache)
    for (label, tc_string), want in zip(cases, expected, strict=True):
        assert_same(picky_decode(tc_string), want, label)
        assert_same(picky_decode(tc_string), want, (label, "again"))
    assert tcf._SHARED_CORES.info().hits >= 2 and tcf._SHARED_RESTRICTIONS.info().hits >= 1
    assert tcf._SHARED_SEGMENTS.info().hits >= 2
    assert all(cache._picky for cache in SHARED)


@pytest.mark.parametrize("limit", [0, 44, 45, 74, 75, 104, 105, 119, 120])
@pytest.mark.parametrize(
    "shared", ["core", "restrictions", "disclosed", "allowed"], ids=lambda name: name
)
def test_parts_kept_by_picky_caches_are_charged_to_the_budget(monkeypatch, limit, shared):
    """As R1's test of the same name without "picky": vendor consents 30 ids, legitimate
    interests 15, restrictions 15 + 15, disclosed 30, allowed 15 (120 in all)."""
    later = CREATED + timedelta(hours=3)
    target = ".".join([enc.to_base64url(core(created=later)), DISCLOSED, ALLOWED])
    if shared == "core":
        warmer = enc.to_base64url(core())
    elif shared == "restrictions":
        warmer = enc.to_base64url(core(consents=range(2, 32)))
    else:
        warmer = (
            enc.to_base64url(core(consents=()))
            + "."
            + (DISCLOSED if shared == "disclosed" else ALLOWED)
        )
    monkeypatch.setattr(tcf, "MAX_VENDOR_IDS", limit)
    want = cold_checked(target)

    decode.cache_clear()
    tcf._clear_shared()
    monkeypatch.setattr(tcf, "MAX_VENDOR_IDS", 1_000)
    for cache in SHARED:
        make_picky(cache)
    hits = {
        "core": tcf._SHARED_CORES,
        "restrictions": tcf._SHARED_RESTRICTIONS,
        "disclosed": tcf._SHARED_SEGMENTS,
        "allowed": tcf._SHARED_SEGMENTS,
    }[shared]
    for _ in range(2):  # the second sighting keeps the parts
        picky_decode(warmer)
    before = hits.info().hits
    monkeypatch.setattr(tcf, "MAX_VENDOR_IDS", limit)

    assert_same(picky_decode(target), want, (shared, limit))
    assert all(cache._picky for cache in SHARED)
    reached = {"core": 0, "restrictions": 45, "disclosed": 75, "allowed": 105}[shared]
    assert (hits.info().hits > before) == (limit >= reached)


def test_emptying_the_decode_cache_ends_pickiness_and_keeps_the_parts():
    tc_string = enc.to_base64url(core())
    decode(tc_string)
    for cache in SHARED:
        make_picky(cache)
    decode.cache_clear()

    assert not any(cache._picky for cache in SHARED)
    assert tcf._SHARED_CORES.info().entries == 1
