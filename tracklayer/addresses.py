"""IP address text: the common case recognised without ``ipaddress``.

An IPv4 address written exactly as ``ipaddress`` writes one (four octets 0-255 in ASCII
digits, no leading zero) reads as itself: ``str(ipaddress.ip_address(text)) == text``.
Parsing it costs about ten times the match, on every event and every key check, so callers
take such text as it is and send everything else to ``ipaddress``
(tests/destinations/test_ingest_ip_fast_path.py compares the two over random and hostile text).
"""

import re

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_CANONICAL_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")


def is_canonical_ipv4(text: str) -> bool:
    """Whether ``text`` is an IPv4 address exactly as ``ipaddress`` writes it."""
    return _CANONICAL_IPV4.fullmatch(text) is not None
