"""The event's IP address reads the same with the IPv4 fast path as through ipaddress alone
(destinations/ingestion/envelope._ip): same address, same warning, same memo — over random
and hostile text, numbers and other values."""

import ipaddress
import random

from destinations.ingestion.envelope import RequestMemo, _ip, _Minimiser
from tracklayer.addresses import is_canonical_ipv4
from workspaces.auth.throttle import _bucket

_IPS_REMEMBERED = 64


def reference_ip(raw, minimiser, memo=None):
    """_ip before the fast path: every address through ipaddress."""
    if raw is None or raw == "":
        return None
    if memo is not None and isinstance(raw, str) and raw in memo.ips:
        return memo.ips[raw]
    try:
        address = ipaddress.ip_address(str(raw).strip())
        if getattr(address, "scope_id", None):
            raise ValueError("zone index")
        if memo is not None and isinstance(raw, str) and len(memo.ips) < _IPS_REMEMBERED:
            memo.ips[raw] = str(address)
        return str(address)
    except ValueError:
        if minimiser is not None:
            minimiser.warnings.append("invalid_ip")
        return None


PIECES = [
    *("0", "00", "01", "1", "9", "10", "099", "100", "199", "200", "249", "250", "255", "256"),
    *("299", "300", "999", "1000", "0001", "-1", "+1", " 1", "1 ", "", "a", "٣", "１", "²", "x1"),
]
SEPARATORS = [".", ".", ".", ".", ":", "..", " . ", ",", "。"]
WHOLE = [
    "203.0.113.7",
    " 203.0.113.7 ",
    "203.0.113.7\n",
    "\u2003203.0.113.7",
    "255.255.255.255",
    "0.0.0.0",  # noqa: S104 — text to read, not an address to bind
    "1.2.3",
    "1.2.3.4.5",
    "1.2.3.4.",
    ".1.2.3.4",
    "::1",
    "fe80::1%eth0",
    "::ffff:1.2.3.4",
    "2001:db8::1",
    "1.2.3.04",
    "1.2.3.4/32",
    "1.2.3.4%1",
    "1.2.3.٤",
    "01.2.3.4",
    "1.2.3.256",
    "127.1",
    "0x7f.0.0.1",
    2130706433,
    0,
    -1,
    2**32,
    2**128 - 1,
    1.5,
    True,
    ["1.2.3.4"],
    {"ip": "1.2.3.4"},
    "1.2.3.4\x00",
    "1.2.3.4\ud800",
]


def candidates(chance: random.Random, count: int):
    yield from WHOLE
    for _ in range(count):
        parts = [chance.choice(PIECES) for _ in range(chance.choice([3, 4, 4, 4, 4, 5]))]
        text = parts[0]
        for part in parts[1:]:
            text += chance.choice(SEPARATORS) + part
        yield text
        yield ".".join(str(chance.randrange(0, 300)) for _ in range(4))


def test_the_fast_path_reads_every_value_as_ipaddress_does():
    chance = random.Random(20261206)
    for raw in candidates(chance, 20_000):
        for with_memo in (False, True):
            memo, reference_memo = (RequestMemo(), RequestMemo()) if with_memo else (None, None)
            minimiser, reference_minimiser = _Minimiser(None), _Minimiser(None)
            got = _ip(raw, minimiser, memo)
            expected = reference_ip(raw, reference_minimiser, reference_memo)
            assert got == expected, raw
            assert [w.code for w in minimiser.warnings] == reference_minimiser.warnings, raw
            if with_memo:
                assert memo.ips == reference_memo.ips, raw
                assert _ip(raw, None, memo) == expected, raw  # from the memo


def test_a_memo_full_of_addresses_still_reads_new_ones():
    memo, reference_memo = RequestMemo(), RequestMemo()
    for n in range(200):
        raw = f"10.0.{n // 256}.{n % 256}"
        assert _ip(raw, None, memo) == reference_ip(raw, None, reference_memo) == raw
    assert memo.ips == reference_memo.ips and len(memo.ips) == _IPS_REMEMBERED


def test_canonical_ipv4_is_exactly_text_that_ipaddress_writes_back_unchanged():
    chance = random.Random(6122026)
    for raw in candidates(chance, 20_000):
        if not isinstance(raw, str):
            continue
        try:
            address = ipaddress.ip_address(raw)
        except ValueError:
            expected = False
        else:
            expected = address.version == 4 and str(address) == raw
        assert is_canonical_ipv4(raw) is expected, raw


def test_the_key_throttle_buckets_an_address_as_before():
    """workspaces.auth.throttle._bucket takes canonical IPv4 text as it is."""
    chance = random.Random(7)
    for raw in candidates(chance, 5_000):
        if not isinstance(raw, str) or not raw:
            continue
        try:
            ip = ipaddress.ip_address(raw.strip("[]"))
        except ValueError:
            expected = raw[:64]
        else:
            if ip.version == 6:
                expected = (
                    str(ip.ipv4_mapped)
                    if ip.ipv4_mapped is not None
                    else str(ipaddress.IPv6Network(f"{ip}/64", strict=False).network_address)
                    + "/64"
                )
            else:
                expected = str(ip)
        assert _bucket(raw) == expected, raw
