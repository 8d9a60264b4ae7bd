"""The public endpoints' rate limit: a token bucket per client address (IPv6 by /64), shared
by every process through Redis (``destinations.ingestion.rate_limit``, the ingestion API's
bucket). The page and the JSON endpoints draw from one bucket; unknown and disabled
workspaces too, so guessing ids costs the same as reading proofs."""

import ipaddress

from destinations.ingestion.rate_limit import RateDecision, rate_limit_take
from workspaces.auth.throttle import client_address

RATE_PER_SECOND = 2
BURST = 60


def _bucket(address: str | None) -> str:
    if not address:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return "unknown"
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False).network_address) + "/64"
    return str(ip)


def public_rate_take(request) -> RateDecision:
    """Take one request from the caller's bucket."""
    return rate_limit_take(
        key_id=f"public-verification:{_bucket(client_address(request))}",
        rate=RATE_PER_SECOND,
        burst=BURST,
    )
