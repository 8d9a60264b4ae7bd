"""The ingestion rate limit: a bucket in Redis, taken ahead in blocks by each process.

Most requests of a busy key cost no Redis round trip; no key gets more than its rate and burst
across processes (a second process is stood in for by dropping this one's reservations, which
is all another process has that this one does not).
"""

import os
import signal
import time

import pytest

from destinations.ingestion import rate_limit
from destinations.ingestion.rate_limit import block_size, rate_limit_forget, rate_limit_take


@pytest.fixture
def redis_calls(monkeypatch):
    """How many times the bucket's script ran (one Redis round trip each)."""
    calls = []
    rate_limit_take(key_id="warm-up", rate=1, burst=1)  # registers the script
    script = rate_limit._script

    def counting(*args, **kwargs):
        calls.append(kwargs.get("args"))
        return script(*args, **kwargs)

    monkeypatch.setattr(rate_limit, "_script", counting)
    return calls


def test_the_block_is_a_hundredth_of_the_rate_within_bounds():
    assert block_size(rate=1, burst=2) == 1
    assert block_size(rate=199, burst=1000) == 1
    assert block_size(rate=1_000, burst=1_000) == 10
    assert block_size(rate=1_000, burst=8) == 2  # never more than a quarter of the bucket
    assert block_size(rate=10_000_000, burst=10_000_000) == rate_limit.MAX_BLOCK


def test_a_busy_key_asks_redis_once_a_block(redis_calls):
    for _ in range(100):
        assert rate_limit_take(key_id=1, rate=10_000, burst=10_000).allowed
    assert len(redis_calls) == 1


def test_a_slow_key_asks_redis_every_time_and_is_refused_exactly(redis_calls):
    answers = [rate_limit_take(key_id=2, rate=1, burst=2) for _ in range(3)]
    assert [a.allowed for a in answers] == [True, True, False]
    assert answers[2].retry_after == 1
    assert len(redis_calls) == 3


def test_processes_together_never_get_more_than_the_bucket(redis_calls):
    # rate 400/s, burst 40: blocks of 4. Three processes (this one with its reservations
    # dropped before each turn stands for the others) share one bucket.
    started = time.monotonic()
    allowed = 0
    for turn in range(90):
        if turn % 3 == 0:
            rate_limit_forget()
        allowed += rate_limit_take(key_id=3, rate=400, burst=40).allowed
    refilled = 400 * (time.monotonic() - started)
    assert allowed <= 40 + refilled + 1
    assert allowed >= 40 - 3 * block_size(400, 40)  # at most a block stranded per process


def test_reserved_tokens_are_taken_from_the_shared_bucket(redis_calls):
    # One process takes 1 + 3 ahead from a bucket of 40 (rate 400/s, blocks of 4)
    assert rate_limit_take(key_id=4, rate=400, burst=40, cost=1).allowed
    assert redis_calls[0][3] == 4
    # Another process finds those 4 gone from the bucket: 36 are left, not 40
    rate_limit_forget()
    assert rate_limit_take(key_id=4, rate=400, burst=40, cost=30).allowed
    assert not rate_limit_take(key_id=4, rate=400, burst=40, cost=10).allowed


def test_a_reservation_lapses(redis_calls, monkeypatch):
    assert rate_limit_take(key_id=5, rate=10_000, burst=10_000).allowed
    monkeypatch.setattr(rate_limit, "RESERVE_SECONDS", 0.0)
    rate_limit_forget()
    assert rate_limit_take(key_id=5, rate=10_000, burst=10_000).allowed
    assert rate_limit_take(key_id=5, rate=10_000, burst=10_000).allowed
    assert len(redis_calls) == 3


def _in_a_forked_child(check) -> int:
    """Run ``check()`` in a forked child (as gunicorn --preload or Celery's prefork pool would
    start a worker): its exit status — 0 when it returned True, 1 when False, 2 on a hang."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        status = 2
        try:
            signal.alarm(5)
            status = 0 if check() else 1
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_a_forked_child_does_not_spend_its_parents_reservation(redis_calls):
    assert rate_limit_take(key_id=6, rate=10_000, burst=10_000).allowed  # 99 held ahead
    bucket = f"{rate_limit.key_prefix()}:ratelimit:v1:6"
    assert rate_limit._spend_reserved(bucket, 1, time.monotonic())[0] == 0  # paid ahead

    # Parent and child spending the same tokens would pass the shared limit.
    assert _in_a_forked_child(lambda: rate_limit._spend_reserved(bucket, 1, 0.0)[0] == 1) == 0


@pytest.fixture
def shared_bucket(monkeypatch):
    """The shared bucket stood in for: ``tokens["left"]`` tokens, taken as the script does;
    each call's arguments (rate, burst, need, want) recorded."""
    tokens = {"left": 0, "calls": []}

    def script(keys, args):
        _rate, _burst, need, want = args
        tokens["calls"].append(args)
        if tokens["left"] < need:
            return [0, 1000]
        taken = min(want, tokens["left"])
        tokens["left"] -= taken
        return [taken, 0]

    monkeypatch.setattr(rate_limit, "_script", script)
    return tokens


def test_tokens_held_ahead_count_towards_a_request_they_do_not_cover(shared_bucket):
    # rate 400/s, burst 40: blocks of 4. This process takes 1 + 3 ahead.
    shared_bucket["left"] = 10
    assert rate_limit_take(key_id=7, rate=400, burst=40, cost=1).allowed
    assert shared_bucket["left"] == 6
    # A batch of 9: 3 held here and 6 in the bucket are enough, within the key's limit; it
    # was refused (9 asked of the bucket alone) and the 3 held went unspent.
    assert rate_limit_take(key_id=7, rate=400, burst=40, cost=9).allowed
    assert shared_bucket["calls"][-1][2] == 6
    assert shared_bucket["left"] == 0


def test_tokens_held_ahead_stay_when_the_bucket_refuses_the_rest(shared_bucket):
    shared_bucket["left"] = 4
    assert rate_limit_take(key_id=8, rate=400, burst=40, cost=1).allowed  # 3 held
    assert not rate_limit_take(key_id=8, rate=400, burst=40, cost=9).allowed
    calls = len(shared_bucket["calls"])
    assert rate_limit_take(key_id=8, rate=400, burst=40, cost=3).allowed  # still held here
    assert len(shared_bucket["calls"]) == calls
