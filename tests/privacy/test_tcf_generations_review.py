"""Review of the shared-part caches (privacy/tcf.py's ``_Generations``): what a hash
collision may and may not do, the one-entry cap against a generation's weight, and lookups
racing puts and swaps — in the cache alone and through ``decode()`` with every cache small,
so that it swaps and turns picky while threads decode.
"""

import sys
import threading
import time
from datetime import timedelta

import pytest

from privacy import tcf
from privacy.tcf import decode
from tests.privacy import tcf_encoder as enc
from tests.privacy.test_tcf import CREATED
from tests.privacy.test_tcf_fast_path_warm import ALLOWED, DISCLOSED, cold_checked, core
from tests.privacy.test_tcf_generations import make_picky

# Two ints CPython hashes alike (an int's hash is its value modulo 2**61 - 1): a fast-path
# key is an int, so a string can be crafted to collide with another's part.
MODULUS = sys.hash_info.modulus
ONE, OTHER = 12_345, 12_345 + MODULUS


@pytest.fixture(autouse=True)
def _cold_cache():
    decode.cache_clear()
    tcf._clear_shared()
    yield
    decode.cache_clear()
    tcf._clear_shared()


def test_keys_of_one_hash_only_change_admission_never_the_value_returned():
    assert hash(ONE) == hash(OTHER) and ONE != OTHER
    cache = tcf._Generations(max_entries=8, max_weight=1_000, max_entry_weight=10)
    make_picky(cache)

    cache.put(ONE, "one", 1)  # first sighting: its hash remembered, nothing kept
    assert cache.get(ONE) is None
    cache.put(OTHER, "other", 1)  # the same hash: kept early, under its own key
    assert cache.get(OTHER) == "other"
    assert cache.get(ONE) is None  # never the other key's value
    cache.put(ONE, "one", 1)
    assert cache.get(ONE) == "one" and cache.get(OTHER) == "other"
    assert cache.info().entries == 2


def test_colliding_keys_cannot_grow_the_cache_past_its_bounds():
    """Every key of one hash (a crafted string's parts) is kept on first sighting once the
    hash was seen: the cache then behaves as when not picky, still bounded."""
    cache = tcf._Generations(max_entries=8, max_weight=40, max_entry_weight=10)
    make_picky(cache)
    for number in range(200):
        cache.put(ONE + number * MODULUS, number, 5)
        info = cache.info()
        assert info.entries <= 8 and info.weight <= 40
    assert len(cache._seen) == 1


def test_one_entry_is_never_heavier_than_a_generation():
    """The cap on one entry is lowered to half the weight: a heavier entry would otherwise
    make the young generation alone exceed its half."""
    cache = tcf._Generations(max_entries=8, max_weight=40, max_entry_weight=30)
    assert cache.max_entry_weight == 20
    cache.put("fits", "fits", 20)
    assert cache.get("fits") == "fits"
    cache.put("heavy", "heavy", 21)
    assert cache.get("heavy") is None
    assert cache.info().weight <= 40


def _race(target, count: int) -> list[BaseException]:
    errors: list[BaseException] = []

    def run(seed: int) -> None:
        try:
            target(seed)
        except BaseException as error:  # any exception fails the test
            errors.append(error)

    threads = [threading.Thread(target=run, args=(seed,)) for seed in range(count)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    return errors


def test_lookups_racing_puts_swaps_and_pickiness_return_only_their_own_key_value():
    """Every value a lookup returns is its key's, while other threads put, swap, judge and
    clear the seen hashes (picky: every fourth key new, colliding keys among them)."""
    cache = tcf._Generations(max_entries=8, max_weight=60, max_entry_weight=10)
    wrong = []

    def hammer(seed: int) -> None:
        for number in range(4_000):
            # every fourth key new, all of one hash; the others repeat
            new = ONE + (seed * 10_000 + number) * MODULUS
            key = new if number % 4 == 0 else seed * number % 19
            value = cache.get(key)
            if value is None:
                cache.put(key, ("value of", key), key % 10 + 1)
            elif value != ("value of", key):
                wrong.append((key, value))

    assert _race(hammer, 6) == []
    assert wrong == []
    for entries, weight in ((cache._young, cache._young_weight), (cache._old, cache._old_weight)):
        assert len(entries) <= 4
        assert weight == sum(weight for _, weight in entries.values()) <= 30


def test_threads_decoding_through_small_picky_caches_get_the_cold_checked_answers(monkeypatch):
    """decode() in threads, the shared-part caches small enough to swap every few strings and
    to turn picky and back: each answer is the checked reading's from cold."""
    cases = []
    for number in range(24):
        created = CREATED + timedelta(minutes=number)
        consents = range(1, 31) if number % 3 else range(2 + number, 20 + number)
        bits = core(created=created, consents=consents)
        tail = [DISCLOSED, ALLOWED][: number % 3]
        cases.append(".".join([enc.to_base64url(bits), *tail]))
    expected = {tc_string: cold_checked(tc_string) for tc_string in cases}
    assert all(answer[0] == "data" for answer in expected.values())
    for name in ("_SHARED_CORES", "_SHARED_RESTRICTIONS", "_SHARED_SEGMENTS"):
        monkeypatch.setattr(tcf, name, tcf._Generations(6, 200, 2_048))
    wrong = []

    def decode_all(seed: int) -> None:
        for round_ in range(30):
            for tc_string in cases[seed % 5 :: 1 + (seed + round_) % 3]:
                tcf._DECODED.clear()  # every decode reads, through the shared caches
                data = decode(tc_string)
                if data != expected[tc_string][1]:
                    wrong.append(tc_string)

    assert _race(decode_all, 4) == []
    assert wrong == []
    assert tcf._SHARED_CORES.info().hits > 0


class _YieldingWeight(int):
    """A weight whose addition lets other threads run in the middle of a put (a plain int's
    does not, so without this no race of two puts could be seen)."""

    def __radd__(self, other: int) -> int:
        time.sleep(0)  # gives up the GIL: another thread runs here
        return other + int(self)

    __add__ = __radd__


@pytest.mark.parametrize(
    ("max_entries", "max_weight"),
    [(8, 60), (10_000, 100_000)],  # swapping all the time; never swapping (no lost weight)
)
def test_racing_puts_keep_each_generation_within_its_caps_and_weights_exact(
    max_entries, max_weight
):
    cache = tcf._Generations(max_entries, max_weight, max_entry_weight=10)

    def put_many(seed: int) -> None:
        for number in range(600):
            key = (seed, number)
            cache.put(key, key, _YieldingWeight(number % 10 + 1))
            if number % 3 == 0:
                cache.get((seed, number - 1))  # a hit in the old generation puts it again

    assert _race(put_many, 6) == []
    for entries, weight in ((cache._young, cache._young_weight), (cache._old, cache._old_weight)):
        assert len(entries) <= max_entries // 2
        assert weight == sum(weight for _, weight in entries.values()) <= max_weight // 2
