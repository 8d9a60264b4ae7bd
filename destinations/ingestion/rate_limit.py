"""Per-key token bucket in Redis, atomic across processes; most requests cost no round trip.

The bucket holds up to ``burst`` tokens and refills at ``rate`` per second; a request takes
one token per event. Refused requests learn how long until enough tokens are back
(``Retry-After``).

A process does not ask Redis for every request's tokens: when it must ask, it takes up to a
*block* more than it needs (``rate / 100``, 10 ms of the key's rate, at most ``MAX_BLOCK``,
never more than the bucket holds) and spends them on the key's next requests in this process
for at most ``RESERVE_SECONDS`` (a request they do not cover spends them and asks Redis only
for the rest; refused, it leaves them held). Tokens are only ever taken from the shared
bucket, so a key never gets more than its rate and burst across all processes; what a
process holds unspent when its reservation lapses is lost, so a key held exactly at its limit
by several processes may get up to one block per process per ``RESERVE_SECONDS`` less (1 % of
its rate for each process). A key whose block is 1 (a rate under 200/s) is decided by Redis
on every request, exactly as before.
"""

import os
import threading
import time
from dataclasses import dataclass

from tracklayer.redis_client import key_prefix, redis_client

MAX_BLOCK = 100  # tokens a process takes ahead of need, at most
RESERVE_SECONDS = 1.0  # how long a process may spend tokens it took ahead
MAX_RESERVATIONS = 10_000  # keys with a reservation in one process; past it, start over

# KEYS[1] bucket; ARGV rate, burst, need, want (need ≤ want). Redis's own clock (TIME) so that
# every web process agrees. Takes min(tokens, want) when at least `need` tokens are there.
# Returns {tokens taken (0: refused), milliseconds until `need` tokens are available}.
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local need = tonumber(ARGV[3])
local want = tonumber(ARGV[4])
local now = redis.call('TIME')
local now_ms = now[1] * 1000 + math.floor(now[2] / 1000)
local state = redis.call('HMGET', KEYS[1], 't', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now_ms
tokens = math.min(burst, tokens + (now_ms - at) * rate / 1000)
local taken = 0
local wait_ms = 0
if tokens >= need then
  taken = math.min(want, math.floor(tokens))
  tokens = tokens - taken
else
  wait_ms = math.ceil((need - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 't', tokens, 'at', now_ms)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return {taken, wait_ms}
"""
_script = None
# bucket → (tokens this process may still spend, monotonic time they lapse)
_reserved: dict[str, tuple[int, float]] = {}
_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    retry_after: int  # whole seconds, at least 1 when refused


def block_size(rate: int, burst: int) -> int:
    """Tokens taken ahead of need for a key of this rate and burst (1: none ahead)."""
    return max(1, min(MAX_BLOCK, rate // 100, burst // 4))


def _spend_reserved(bucket: str, cost: int, now: float) -> tuple[int, float]:
    """Spend this process's tokens for ``bucket`` on ``cost``: how many are still needed from
    Redis (0: paid), and when the tokens spent would have lapsed. Holding fewer than ``cost``,
    it spends all it holds (given back by ``_give_back`` if Redis refuses the rest)."""
    with _lock:
        held = _reserved.get(bucket)
        if held is None or held[1] <= now:
            return cost, now
        if held[0] >= cost:
            _reserved[bucket] = (held[0] - cost, held[1])
            return 0, held[1]
        del _reserved[bucket]
        return cost - held[0], held[1]


def _give_back(bucket: str, tokens: int, lapses_at: float) -> None:
    with _lock:
        held = _reserved.get(bucket)
        if held is not None and held[1] > lapses_at:
            tokens, lapses_at = tokens + held[0], held[1]
        _reserved[bucket] = (tokens, lapses_at)


def _reserve(bucket: str, tokens: int, now: float) -> None:
    """Hold ``tokens`` more (with what is left of an unlapsed reservation)."""
    with _lock:
        held = _reserved.get(bucket)
        if held is not None and held[1] > now:
            tokens += held[0]
        elif len(_reserved) >= MAX_RESERVATIONS:
            _reserved.clear()
        _reserved[bucket] = (tokens, now + RESERVE_SECONDS)


def _after_fork_in_child() -> None:
    """A forked child starts with no reservation (the parent may still spend its own: two
    processes spending the same tokens would pass the limit) and a lock nobody holds."""
    global _lock
    _lock = threading.Lock()
    _reserved.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


def rate_limit_forget() -> None:
    """Drop this process's reservations (tests: the shared buckets were emptied)."""
    with _lock:
        _reserved.clear()


def rate_limit_take(*, key_id: int | str, rate: int, burst: int, cost: int = 1) -> RateDecision:
    global _script
    cost = max(1, min(cost, burst))  # a batch larger than the bucket can still pass when full
    bucket = f"{key_prefix()}:ratelimit:v1:{key_id}"
    block = block_size(rate, burst)
    now = time.monotonic()
    need, lapses_at = _spend_reserved(bucket, cost, now) if block > 1 else (cost, now)
    if need == 0:
        return RateDecision(True, 0)
    if _script is None:
        _script = redis_client().register_script(_TAKE)
    want = min(burst, need + block - 1)
    taken, wait_ms = _script(keys=[bucket], args=[rate, burst, need, want])
    taken = int(taken)
    if taken < need:
        if need < cost:  # what this process held stays its own, for no longer than it would
            _give_back(bucket, cost - need, lapses_at)
        return RateDecision(False, max(1, -(-int(wait_ms) // 1000)))
    if taken > need:
        _reserve(bucket, taken - need, now)
    return RateDecision(True, 0)
