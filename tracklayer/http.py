"""The one way TrackLayer talks to the outside over HTTP, and the one egress policy.

Every outbound call — destination deliveries and test sends, the checkpoint witness, the S3
endpoint of audit exports (botocore's sends are routed here, ``route_botocore``), anything
later — goes through ``request``/``post``; configuration forms and services check URLs with
``url_refusal``/``validate_url``, the same code (docs/egress.md, docs/adr/0009).

Guarantees:

- **Only global addresses.** The host is resolved at send time and *every* address it
  resolves to must be public (``address_refusal``): no private, loopback, link-local (cloud
  metadata), CGNAT, multicast, unspecified, reserved, documentation or benchmarking address,
  in any spelling — IPv4-mapped and IPv4-compatible IPv6, NAT64 (the IPv4 it stands for is
  judged), 6to4 (likewise), Teredo, and whatever numeric form the resolver accepts
  (``2130706433``, ``0x7f.1``). Loopback only where the operator allows it
  (``EGRESS_ALLOW_LOOPBACK``: on in development and test, where the local platform stand-ins
  listen on 127.0.0.1); networks the operator lists in ``EGRESS_ALLOW_NETWORKS`` are allowed.
- **The address checked is the address connected to.** Connections are made to the checked
  IP (one keep-alive pool per scheme, host, port and IP), while the Host header, TLS SNI and
  certificate verification use the URL's host name: a name that resolves elsewhere a moment
  later (DNS rebinding) cannot redirect a request that was already checked.
- **No redirects** are followed; a 3xx is an answer like any other.
- **A total deadline**: connecting, sending and the whole answer, however slowly it drips,
  end by ``timeout`` seconds — a watchdog shuts the socket when the time is up.
- **A size cap**: at most ``max_bytes`` of answer are read; past it the connection is closed,
  not drained.
- Errors are values the caller records (``HttpResult.error``, never raised), except from the
  configuration-time helpers, which raise or return a user-facing reason.

Adapters build requests and read answers; this module only moves bytes.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import http.client
import ipaddress
import itertools
import os
import socket
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import urllib3
from django.conf import settings
from urllib3.connection import HTTPConnection, HTTPSConnection

from tracklayer.exceptions import DomainError

DEFAULT_TIMEOUT = 10.0  # seconds, the whole request
CONNECT_TIMEOUT = 3.0
DEFAULT_MAX_BYTES = 1024 * 1024
USER_AGENT = "TrackLayer/0.1 (+https://tracklayer.local)"
POOLS_MAX = 128  # distinct (scheme, host, port, ip) pools kept open per process
POOL_SIZE = 16  # keep-alive connections kept per pool
CHUNK = 65536

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class EgressRefused(DomainError):
    """TrackLayer will not send to this URL; ``message`` says why, in words for the user."""

    code = "egress_refused"
    status = 400


# --- The policy ----------------------------------------------------------------------------------

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# Checked in order; the first match gives the reason. Anything ``is_global`` does not vouch
# for is refused after these, so the table is the readable part, not the whole of it.
_REFUSED_V4: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_V4("0.0.0.0/8"), "an unspecified address"),
    (_V4("10.0.0.0/8"), "a private address"),
    (_V4("172.16.0.0/12"), "a private address"),
    (_V4("192.168.0.0/16"), "a private address"),
    (_V4("100.64.0.0/10"), "a shared (carrier-grade NAT) address"),
    (_V4("169.254.0.0/16"), "a link-local address"),
    (_V4("192.0.0.0/24"), "a reserved address"),
    (_V4("192.0.2.0/24"), "a documentation address"),
    (_V4("198.51.100.0/24"), "a documentation address"),
    (_V4("203.0.113.0/24"), "a documentation address"),
    (_V4("198.18.0.0/15"), "a benchmarking address"),
    (_V4("192.88.99.0/24"), "a reserved address"),  # the retired 6to4 relay anycast
    (_V4("224.0.0.0/4"), "a multicast address"),
    (_V4("240.0.0.0/4"), "a reserved address"),  # and the broadcast address
)
_REFUSED_V6: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_V6("64:ff9b:1::/48"), "a local-use NAT64 address"),
    (_V6("::/96"), "an IPv4-compatible address"),  # deprecated (RFC 4291); :: and ::1 first
    (_V6("::ffff:0:0:0/96"), "an IPv4-translated address"),
    (_V6("100::/64"), "a discard-only address"),
    (_V6("2001::/32"), "a Teredo tunnel address"),
    (_V6("2001:db8::/32"), "a documentation address"),
    (_V6("3fff::/20"), "a documentation address"),
    (_V6("2001:2::/48"), "a benchmarking address"),
    (_V6("fc00::/7"), "a private address"),
    (_V6("fe80::/10"), "a link-local address"),
    (_V6("fec0::/10"), "a site-local address"),
    (_V6("ff00::/8"), "a multicast address"),
)
_LOOPBACK_V4 = _V4("127.0.0.0/8")
_GLOBAL_UNICAST_V6 = _V6("2000::/3")
_NAT64 = _V6("64:ff9b::/96")
_SIX_TO_FOUR = _V6("2002::/16")


def address_refusal(
    address: str | IPAddress,
    *,
    allow_loopback: bool = False,
    allowed_networks: tuple = (),
) -> str | None:
    """Why TrackLayer will not connect to ``address`` ("a private address", …), or None when
    it may. Pure: the settings are the caller's (``_policy``)."""
    if isinstance(address, str):
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return "not an IP address"
    else:
        ip = address
    if any(ip.version == net.version and ip in net for net in allowed_networks):
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            # A dual-stack socket connects to the IPv4 address itself: judge that address.
            return address_refusal(
                ip.ipv4_mapped, allow_loopback=allow_loopback, allowed_networks=allowed_networks
            )
        embedded = _translated_ipv4(ip)
        if embedded is not None:
            # A gateway forwards these to the IPv4 address they carry: judge that address —
            # loopback included, which would be the gateway's own, never TrackLayer's.
            return address_refusal(embedded, allowed_networks=allowed_networks)
        if ip.is_unspecified:
            return "an unspecified address"
        if ip.is_loopback:
            return None if allow_loopback else "a loopback address"
        for network, reason in _REFUSED_V6:
            if ip in network:
                return reason
        if ip not in _GLOBAL_UNICAST_V6 or not ip.is_global:
            return "a reserved address"
        return None
    if ip in _LOOPBACK_V4:
        return None if allow_loopback else "a loopback address"
    for network, reason in _REFUSED_V4:
        if ip in network:
            return reason
    if not ip.is_global:
        return "a reserved address"
    return None


def _translated_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a NAT64 (64:ff9b::/96) or 6to4 (2002::/16) address stands for."""
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _SIX_TO_FOUR:
        return ip.sixtofour
    return None


@dataclass(frozen=True)
class Policy:
    allow_loopback: bool
    allowed_networks: tuple


def _policy() -> Policy:
    """The operator's settings, read per call (tests and ``override_settings`` change them)."""
    networks = getattr(settings, "EGRESS_ALLOW_NETWORKS", ())
    return Policy(
        allow_loopback=bool(getattr(settings, "EGRESS_ALLOW_LOOPBACK", False)),
        allowed_networks=tuple(_parse_networks(tuple(networks))),
    )


@functools.lru_cache(maxsize=8)
def _parse_networks(values: tuple) -> list:
    return [ipaddress.ip_network(value, strict=False) for value in values]


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in the resolver's order (tests replace this)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    seen: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in seen:
            seen.append(address)
    return seen


@dataclass(frozen=True)
class Target:
    """A URL checked by the policy: where to connect (``addresses``) and what to say."""

    scheme: str
    host: str  # the name for Host, SNI and the certificate (IDNA, lower case, no brackets)
    port: int
    addresses: tuple[str, ...]  # every address the host resolved to, all allowed
    request_target: str  # path?query, sent as given

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def check_url(url: str, *, unresolvable_ok: bool = False) -> Target | None:
    """The ``Target`` for ``url`` after the policy's checks; raises ``EgressRefused`` with the
    reason otherwise. With ``unresolvable_ok``, a name that does not resolve (yet) gives None
    instead of a refusal: configuration time outside production, where the send-time check
    still applies."""
    if not isinstance(url, str) or not url.strip():
        raise EgressRefused("Enter a URL.")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise EgressRefused("The URL is not valid (check the host and the port).") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EgressRefused("Enter an http:// or https:// URL.")
    if parts.username is not None or parts.password is not None:
        raise EgressRefused("Credentials do not belong in the URL.")
    try:
        host = parts.hostname.encode("idna").decode("ascii")
    except UnicodeError:
        raise EgressRefused("The URL's host name is not valid.") from None
    port = port or (443 if parts.scheme == "https" else 80)
    policy = _policy()
    literal = _literal(host)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            addresses = resolve(host, port)
        except (OSError, UnicodeError):
            addresses = []
        if not addresses:
            if unresolvable_ok:
                return None
            raise EgressRefused(f"The host {host!r} does not resolve.")
    for address in addresses:
        reason = address_refusal(
            address,
            allow_loopback=policy.allow_loopback,
            allowed_networks=policy.allowed_networks,
        )
        if reason:
            # The class of address, never the address a name resolved to (no map of the
            # internal network through error messages).
            what = "is" if literal is not None else "resolves to"
            raise EgressRefused(
                f"The host {host!r} {what} {reason}; TrackLayer sends only to public addresses."
            )
    path = parts.path or "/"
    return Target(
        scheme=parts.scheme,
        host=host,
        port=port,
        addresses=tuple(address.split("%", 1)[0] for address in addresses),
        request_target=f"{path}?{parts.query}" if parts.query else path,
    )


def _literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def url_refusal(url: str, *, unresolvable_ok: bool = False) -> str | None:
    """Why TrackLayer will not send to ``url`` (a sentence for the user), or None."""
    try:
        check_url(url, unresolvable_ok=unresolvable_ok)
    except EgressRefused as refused:
        return refused.message
    return None


def validate_url(url: str, *, field: str, unresolvable_ok: bool = False) -> None:
    """Configuration time: raise ``EgressRefused`` (code ``egress_refused``) naming ``field``."""
    try:
        check_url(url, unresolvable_ok=unresolvable_ok)
    except EgressRefused as refused:
        raise EgressRefused(refused.message, field=field) from None


# --- The total deadline --------------------------------------------------------------------------


class _Guard:
    """One request's deadline. The connections it used are shut when it passes."""

    __slots__ = ("connections", "deadline", "done", "expired")

    def __init__(self, deadline: float):
        self.deadline = deadline
        self.done = False
        self.expired = False
        self.connections: list = []

    def remaining(self) -> float:
        return max(self.deadline - time.monotonic(), 0.001)


class _Watchdog:
    """One thread per process that shuts the sockets of requests past their deadline.

    urllib3's read timeout is per ``recv``: a receiver dripping a byte at a time never trips
    it. Shutting the socket from outside makes the blocked read return at once, whatever
    stage the request is in (connect, TLS handshake, headers, body)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._heap: list = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, guard: _Guard) -> None:
        with self._lock:
            heapq.heappush(self._heap, (guard.deadline, next(self._seq), guard))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="tracklayer-http-deadline", daemon=True
                )
                self._thread.start()
            if self._heap[0][2] is guard:
                # Only a new earliest deadline changes the thread's sleep; waking it for every
                # request would cost the hot path a context switch each.
                self._wake.notify()

    def attach(self, guard: _Guard, connection) -> None:
        with self._lock:
            if not guard.done:
                guard.connections.append(connection)
                if guard.expired:
                    _shut(connection)

    def finish(self, guard: _Guard) -> bool:
        """Stop watching; True when the deadline had passed (the answer is cut short)."""
        with self._lock:
            guard.done = True
            guard.connections = []
            return guard.expired

    def _run(self) -> None:
        with self._lock:
            while True:
                now = time.monotonic()
                while self._heap and (self._heap[0][2].done or self._heap[0][0] <= now):
                    _deadline, _seq, guard = heapq.heappop(self._heap)
                    if not guard.done:
                        guard.expired = True
                        for connection in guard.connections:
                            _shut(connection)
                self._wake.wait(self._heap[0][0] - now if self._heap else None)


def _shut(connection) -> None:
    """Shut a socket, or a connection's current socket (none yet: nothing to shut)."""
    sock = connection if isinstance(connection, socket.socket) else connection.sock
    if sock is None:
        return
    # The plain socket's shutdown, also under TLS: the SSL object stays with the reader.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


_watchdog = _Watchdog()
_local = threading.local()


class _Watched:
    """Connection mixin: the request running on this thread may shut this connection — its
    new socket as soon as it exists (the TLS handshake included), and the connection's current
    socket on every request (a reused connection, or one wrapped in TLS)."""

    def _new_conn(self):
        sock = super()._new_conn()
        guard = getattr(_local, "guard", None)
        if guard is not None:
            _watchdog.attach(guard, sock)  # shut at once if the deadline passed while connecting
        return sock

    def request(self, *args, **kwargs):
        guard = getattr(_local, "guard", None)
        if guard is not None:
            _watchdog.attach(guard, self)
        return super().request(*args, **kwargs)


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


# --- Pools: one per (scheme, host, port, checked ip) ----------------------------------------------

#: Certificate authorities for https; None: the system's. Tests point it at their own CA.
CA_CERTS: str | None = None


class _Pools:
    def __init__(self):
        self._lock = threading.Lock()
        self._pools: OrderedDict = OrderedDict()

    def get(self, scheme: str, host: str, port: int, ip: str):
        key = (scheme, host, port, ip, CA_CERTS)
        with self._lock:
            pool = self._pools.get(key)
            if pool is not None:
                self._pools.move_to_end(key)
                return pool
            common = {"maxsize": POOL_SIZE, "block": False, "retries": False}
            address = f"[{ip}]" if ":" in ip else ip
            if scheme == "https":
                pool = _HTTPSPool(
                    address,
                    port,
                    cert_reqs="CERT_REQUIRED",
                    ca_certs=CA_CERTS,
                    server_hostname=host,  # SNI
                    assert_hostname=host,  # the certificate must name the host, not the IP
                    **common,
                )
            else:
                pool = _HTTPPool(address, port, **common)
            self._pools[key] = pool
            while len(self._pools) > POOLS_MAX:
                _key, old = self._pools.popitem(last=False)
                old.close()
            return pool

    def clear(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), OrderedDict()
        for pool in pools:
            pool.close()


_pools = _Pools()


def reset() -> None:
    """Close every pooled connection (tests)."""
    _pools.clear()


def _after_fork() -> None:
    # A forked worker must not share its parent's sockets, nor wait on its lock or thread.
    global _watchdog, _pools
    _watchdog, _pools = _Watchdog(), _Pools()


os.register_at_fork(after_in_child=_after_fork)


# --- Sending -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpResult:
    status: int | None
    body: bytes
    error: str = ""
    headers: dict = field(default_factory=dict)
    elapsed_ms: int = 0
    # "" when an answer came in whole; else refused | deadline | too_large | connect | protocol
    failure: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and not self.failure


def post(
    url: str,
    body: bytes,
    *,
    headers: dict[str, str],
    timeout: float = DEFAULT_TIMEOUT,
    connect_timeout: float = CONNECT_TIMEOUT,
    max_bytes: int | None = None,
) -> HttpResult:
    """POST ``body``; a status, or ``status=None`` with ``error`` when no answer came."""
    return request(
        "POST",
        url,
        body=body,
        headers=headers,
        timeout=timeout,
        connect_timeout=connect_timeout,
        max_bytes=max_bytes,
    )


_CONNECT_ERRORS = (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError)


def request(
    method: str,
    url: str,
    *,
    body=None,
    headers: dict[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    connect_timeout: float = CONNECT_TIMEOUT,
    max_bytes: int | None = None,
) -> HttpResult:
    """Send one request under the egress policy, within ``timeout`` seconds in all, reading at
    most ``max_bytes`` (``EGRESS_MAX_RESPONSE_BYTES``) of answer. Never raises for the
    network's or the receiver's doing: the result carries the status or the error."""
    started = time.monotonic()
    guard = _Guard(started + timeout)
    if max_bytes is None:
        max_bytes = int(getattr(settings, "EGRESS_MAX_RESPONSE_BYTES", DEFAULT_MAX_BYTES))

    def result(status, data=b"", error="", answer_headers=None, failure=""):
        elapsed = int((time.monotonic() - started) * 1000)
        return HttpResult(status, data, error[:300], answer_headers or {}, elapsed, failure)

    try:
        target = check_url(url)
    except EgressRefused as refused:
        return result(None, error=f"egress refused: {refused.message}", failure="refused")
    send_headers = {"User-Agent": USER_AGENT}
    for name, value in (headers or {}).items():
        if name.lower() == "user-agent":
            send_headers["User-Agent"] = value
        elif name.lower() != "host":  # the Host is the checked URL's, whatever was given
            send_headers[name] = value
    send_headers["Host"] = target.host_header

    _watchdog.watch(guard)
    _local.guard = guard
    response = None
    complete = False
    try:
        response = _open(method, target, body, send_headers, guard, connect_timeout)
        status = response.status
        answer_headers = {name.lower(): value for name, value in response.headers.items()}
        data, complete = _read_capped(response, max_bytes)
        if _watchdog.finish(guard):
            complete = False
            return result(
                None, error=f"no complete answer within {timeout:g} s", failure="deadline"
            )
        if not complete:
            return result(
                status,
                data,
                f"the answer is larger than {max_bytes} bytes; not read further",
                answer_headers,
                "too_large",
            )
        return result(status, data, "" if status < 400 else f"HTTP {status}", answer_headers)
    except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError, ValueError) as error:
        if _watchdog.finish(guard):
            return result(
                None, error=f"no complete answer within {timeout:g} s", failure="deadline"
            )
        reason = getattr(error, "reason", None) or error
        failure = "connect" if isinstance(error, _CONNECT_ERRORS) else "protocol"
        return result(None, error=f"{type(error).__name__}: {reason}", failure=failure)
    finally:
        _watchdog.finish(guard)
        _local.guard = None
        if response is not None:
            if not complete:
                # Never drain what a receiver may keep sending: close the connection instead.
                response.close()
            response.release_conn()


def _open(method, target: Target, body, headers, guard: _Guard, connect_timeout: float):
    """The answer's status and headers, from the first checked address that takes the
    connection (a name may resolve to several: IPv6 and IPv4, say)."""
    for index, address in enumerate(target.addresses):
        pool = _pools.get(target.scheme, target.host, target.port, address)
        try:
            return pool.urlopen(
                method,
                target.request_target,
                body=body,
                headers=headers,
                timeout=urllib3.Timeout(
                    connect=min(connect_timeout, guard.remaining()), read=guard.remaining()
                ),
                retries=False,
                redirect=False,
                assert_same_host=False,
                preload_content=False,
                release_conn=False,
            )
        except _CONNECT_ERRORS:
            # Nothing was sent yet, so the next address may be tried.
            if index == len(target.addresses) - 1 or guard.expired:
                raise
    raise AssertionError("a Target has at least one address")


def _read_capped(response, max_bytes: int) -> tuple[bytes, bool]:
    """Up to ``max_bytes`` of the body, and whether that was all of it."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = response.read(min(CHUNK, max_bytes + 1 - size))
        if not chunk:
            return b"".join(chunks), True
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            return b"".join(chunks)[:max_bytes], False


# --- botocore: S3-compatible endpoints through the same policy -----------------------------------


class _RawBody:
    """What botocore reads an answer from (``AWSResponse.raw``)."""

    def __init__(self, data: bytes):
        self._data = data
        self._offset = 0

    def stream(self, amt: int = CHUNK, decode_content: bool = True):
        while chunk := self.read(amt):
            yield chunk

    def read(self, amt: int | None = None, decode_content: bool = True) -> bytes:
        end = len(self._data) if amt is None else self._offset + amt
        chunk = self._data[self._offset : end]
        self._offset += len(chunk)
        return chunk

    def close(self) -> None:
        pass


def route_botocore(
    client,
    *,
    timeout: float = 120.0,
    connect_timeout: float = 10.0,
    max_bytes: int = 16 * 1024 * 1024,
):
    """Send every request of a boto3/botocore ``client`` through ``request`` (the policy,
    the pinned connection, the deadline and the cap) instead of botocore's own pool.
    A refusal raises ``EgressRefused``; no answer raises botocore's connection error (which
    botocore retries)."""
    # Imported here: botocore takes ~0.1 s to import, and only the processes that export to
    # S3 need it — not every web and worker process that imports this module.
    from botocore.awsrequest import AWSResponse
    from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

    def send(**kwargs):
        prepared = kwargs["request"]  # botocore's AWSPreparedRequest
        body = prepared.body
        if body is not None and hasattr(body, "read"):
            body = body.read()
        answer = request(
            prepared.method,
            prepared.url,
            body=body,
            # Without "Expect: 100-continue": urllib3 sends the body at once, as HTTP allows.
            headers={
                name: _text(value)
                for name, value in prepared.headers.items()
                if name.lower() != "expect"
            },
            timeout=timeout,
            connect_timeout=connect_timeout,
            max_bytes=max_bytes,
        )
        if answer.failure == "refused":
            raise EgressRefused(answer.error.removeprefix("egress refused: "))
        if answer.failure == "deadline":
            raise ReadTimeoutError(endpoint_url=_endpoint(prepared.url))
        if answer.status is None or answer.failure:
            raise EndpointConnectionError(endpoint_url=_endpoint(prepared.url))
        return AWSResponse(prepared.url, answer.status, answer.headers, _RawBody(answer.body))

    client.meta.events.register_first("before-send", send)
    return client


def _text(value) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def _endpoint(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
