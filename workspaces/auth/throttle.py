"""The throttle on failed API key attempts (issue 11, finding 9), shared by every process
through Redis.

Only the expensive path is throttled: a request whose secret matches the verification cache
costs no bcrypt and is never held back. Everything else — an unknown prefix, a wrong secret,
a revoked or expired key, a cache entry made under an older server key — is verified with
bcrypt, and each such attempt that fails counts against two fixed windows:

- **per client address** (IPv6 grouped by /64, since one host is given a whole /64):
  ``API_KEY_THROTTLE_PER_IP`` failures per ``API_KEY_THROTTLE_WINDOW_SECONDS``, then the
  address gets 429 ``api_key_throttled`` for every key until the window ends. This bounds the
  bcrypt work one address can cause, whatever prefixes it invents.
- **per key prefix**: ``API_KEY_THROTTLE_PER_PREFIX`` failures per window, then the prefix is
  refused — but *not* to an address that verified this key successfully within the last day.
  A prefix is not secret (write keys sit in web pages; prefixes are shown in lists and audit
  entries), so a prefix throttle alone would let anyone lock the legitimate holder out. The
  holder keeps working from the addresses it has been using (and from any address while its
  cache entry lives); attackers spread over many addresses are bounded per prefix.

The limit is checked before bcrypt runs, so a throttled attempt costs one Redis round trip.
"""

import ipaddress
import time

from django.conf import settings

from tracklayer.addresses import is_canonical_ipv4
from tracklayer.redis_client import key_prefix, redis_client
from workspaces.exceptions import ApiKeyThrottledError

GOOD_ADDRESS_SECONDS = 24 * 3600
# (prefix, address) → monotonic time this process last refreshed the "verified from here" mark
_marked: dict[tuple[str, str], float] = {}
MARK_INTERVAL = 600.0
MARK_MEMORY = 50_000


def _namespace() -> str:
    return f"{key_prefix()}:apikey-throttle:v1"


def _address_key(address: str) -> str:
    return f"{_namespace()}:ip:{address}"


def _prefix_key(prefix: str) -> str:
    return f"{_namespace()}:prefix:{prefix}"


def _good_key(prefix: str, address: str) -> str:
    return f"{_namespace()}:good:{prefix}:{address}"


def client_address(request) -> str | None:
    """The address to throttle: the peer, or — behind a trusted proxy (``INGEST_TRUST_PROXY``)
    — the address that proxy appended last to X-Forwarded-For. The leftmost entries are the
    client's own word and would let it pick a fresh address for every attempt."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR") if settings.INGEST_TRUST_PROXY else None
    if forwarded:
        return forwarded.split(",")[-1].strip() or None
    return request.META.get("REMOTE_ADDR") or None


def _bucket(address: str | None) -> str | None:
    if not address:
        return None
    if is_canonical_ipv4(address):
        return address  # what str(ipaddress.ip_address(address)) gives back
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return address[:64]
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False).network_address) + "/64"
    return str(ip)


def api_key_throttle_check(*, prefix: str, client_ip: str | None) -> None:
    """Raise ``ApiKeyThrottledError`` (with the seconds to wait) when this attempt would go
    over a limit; called before bcrypt."""
    address = _bucket(client_ip)
    pipe = redis_client().pipeline(transaction=False)
    pipe.get(_prefix_key(prefix))
    pipe.ttl(_prefix_key(prefix))
    if address:
        pipe.get(_address_key(address))
        pipe.ttl(_address_key(address))
        pipe.exists(_good_key(prefix, address))
    answers = pipe.execute()
    prefix_failures, prefix_ttl = int(answers[0] or 0), answers[1]
    if address:
        address_failures, address_ttl, verified_here = int(answers[2] or 0), answers[3], answers[4]
        if address_failures >= settings.API_KEY_THROTTLE_PER_IP:
            raise ApiKeyThrottledError(
                "Too many failed API key attempts from this address.",
                retry_after=_seconds(address_ttl),
            )
    else:
        verified_here = False
    if prefix_failures >= settings.API_KEY_THROTTLE_PER_PREFIX and not verified_here:
        raise ApiKeyThrottledError(
            "Too many failed attempts for this API key.", retry_after=_seconds(prefix_ttl)
        )


def api_key_throttle_failed(*, prefix: str, client_ip: str | None) -> None:
    """Count one failed attempt against the prefix and the address."""
    window = settings.API_KEY_THROTTLE_WINDOW_SECONDS
    pipe = redis_client().pipeline(transaction=False)
    keys = [_prefix_key(prefix)]
    address = _bucket(client_ip)
    if address:
        keys.append(_address_key(address))
    for key in keys:
        # A fixed window: the first failure opens it (SET NX EX), later ones only count.
        pipe.set(key, 0, ex=window, nx=True)
        pipe.incr(key)
    pipe.execute()


def api_key_throttle_verified(*, prefix: str, client_ip: str | None, force: bool = False) -> None:
    """Remember that this address presented the right secret for ``prefix``: the prefix
    throttle does not apply to it for a day. Refreshed at most every ten minutes per process
    (unless ``force``, after a bcrypt verification), so cache hits rarely pay a round trip."""
    address = _bucket(client_ip)
    if not address:
        return
    now = time.monotonic()
    mark = (prefix, address)
    if not force and now - _marked.get(mark, -MARK_INTERVAL) < MARK_INTERVAL:
        return
    if len(_marked) >= MARK_MEMORY:
        _marked.clear()
    _marked[mark] = now
    redis_client().set(_good_key(prefix, address), b"1", ex=GOOD_ADDRESS_SECONDS)


def _seconds(ttl: int | None) -> int:
    # TTL answers -1 (no expiry) or -2 (gone) at the edges of a window; never say "0 s".
    return max(int(ttl or 0), 1)
