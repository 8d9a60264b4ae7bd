"""Per-key token bucket in Redis: one round trip per request, atomic across processes.

The bucket holds up to ``burst`` tokens and refills at ``rate`` per second; a request takes
one token per event. Refused requests learn how long until enough tokens are back
(``Retry-After``)."""

from dataclasses import dataclass

from tracklayer.redis_client import key_prefix, redis_client

# KEYS[1] bucket; ARGV rate, burst, cost. Redis's own clock (TIME) so that every web process
# agrees. Returns {allowed (0/1), milliseconds until `cost` tokens are available}.
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local now = redis.call('TIME')
local now_ms = now[1] * 1000 + math.floor(now[2] / 1000)
local state = redis.call('HMGET', KEYS[1], 't', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now_ms
tokens = math.min(burst, tokens + (now_ms - at) * rate / 1000)
local allowed = 0
local wait_ms = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  wait_ms = math.ceil((cost - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 't', tokens, 'at', now_ms)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return {allowed, wait_ms}
"""
_script = None


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    retry_after: int  # whole seconds, at least 1 when refused


def rate_limit_take(*, key_id: int, rate: int, burst: int, cost: int = 1) -> RateDecision:
    global _script
    if _script is None:
        _script = redis_client().register_script(_TAKE)
    cost = max(1, min(cost, burst))  # a batch larger than the bucket can still pass when full
    allowed, wait_ms = _script(
        keys=[f"{key_prefix()}:ratelimit:v1:{key_id}"], args=[rate, burst, cost]
    )
    return RateDecision(bool(allowed), 0 if allowed else max(1, -(-int(wait_ms) // 1000)))
