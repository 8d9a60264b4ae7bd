"""The egress policy (tracklayer/http.py): which addresses are refused in which spelling, the
check at send time against the address connected to (DNS rebinding), no redirects, the total
deadline against a dripping receiver, the size cap against an endless one, and keep-alive.

Receivers are local servers; the resolver is replaced where a test needs a name to resolve
to a chosen address (``http.resolve``)."""

import contextlib
import datetime as dt
import ipaddress
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tracklayer import http

# --- The policy table ------------------------------------------------------------------------

REFUSED = [
    # IPv4, by class
    ("0.0.0.0", "unspecified"),  # noqa: S104
    ("10.0.0.1", "private"),
    ("172.16.5.4", "private"),
    ("192.168.1.1", "private"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("169.254.169.254", "link-local"),
    ("224.0.0.1", "multicast"),
    ("255.255.255.255", "reserved"),
    ("240.0.0.1", "reserved"),
    ("192.0.0.8", "reserved"),
    ("192.0.2.1", "documentation"),
    ("198.51.100.7", "documentation"),
    ("203.0.113.9", "documentation"),
    ("198.18.0.1", "benchmarking"),
    # IPv6, by class
    ("::", "unspecified"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"),
    ("fec0::1", "site-local"),
    ("ff02::1", "multicast"),
    ("2001:db8::1", "documentation"),
    ("2001:2::1", "benchmarking"),
    ("100::1", "discard"),
    # IPv4 in IPv6 clothing: the IPv4 address they reach is what counts
    ("::ffff:169.254.169.254", "link-local"),  # IPv4-mapped
    ("::ffff:10.0.0.1", "private"),
    ("::a9fe:a9fe", "IPv4-compatible"),  # the finding's spellings
    ("::127.0.0.1", "IPv4-compatible"),
    ("::8.8.8.8", "IPv4-compatible"),  # deprecated form, never needed
    ("::ffff:0:a9fe:a9fe", "IPv4-translated"),
    ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
    ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
    ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
    ("64:ff9b:1::a9fe:a9fe", "local-use NAT64"),
    ("2002:a9fe:a9fe::1", "link-local"),  # 6to4 of 169.254.169.254
    ("2002:7f00:1::1", "loopback"),  # 6to4 of 127.0.0.1
    ("2002:c0a8:101::1", "private"),  # 6to4 of 192.168.1.1
    ("2001::1", "Teredo"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
]

ALLOWED = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "2606:4700:4700::1111",
    "2a00:1450:4001:81c::200e",
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8
    "2002:808:808::1",  # 6to4 of 8.8.8.8
    "::ffff:8.8.8.8",
]


@pytest.mark.parametrize(("address", "reason"), REFUSED)
def test_every_non_global_spelling_is_refused(address, reason):
    refusal = http.address_refusal(address, allow_loopback=True)

    assert refusal is not None and reason in refusal


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address):
    assert http.address_refusal(address) is None


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_loopback_only_where_the_operator_allows_it(address):
    assert "loopback" in http.address_refusal(address, allow_loopback=False)
    assert http.address_refusal(address, allow_loopback=True) is None


def test_an_operator_allowed_network_is_reachable_and_no_other():
    networks = (ipaddress.ip_network("10.20.0.0/16"),)

    assert http.address_refusal("10.20.3.4", allowed_networks=networks) is None
    assert "private" in http.address_refusal("10.21.0.1", allowed_networks=networks)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://[::1]:6379/",
        "http://localhost:5432/",
        "https://[64:ff9b::a9fe:a9fe]/in",
        "https://[2002:a9fe:a9fe::1]/in",
        "https://[::a9fe:a9fe]/in",
        "https://[::127.0.0.1]/in",
        "http://2130706433/",  # 127.0.0.1 as one number: judged as resolved
        "http://0x7f.1/",
    ],
)
def test_urls_are_judged_by_what_they_resolve_to(settings, url):
    settings.EGRESS_ALLOW_LOOPBACK = False

    with pytest.raises(http.EgressRefused) as refused:
        http.validate_url(url, field="url")

    assert refused.value.code == "egress_refused" and refused.value.field == "url"
    assert "TrackLayer sends only to public addresses" in refused.value.message


def test_a_name_is_refused_when_any_of_its_addresses_is(settings, monkeypatch):
    monkeypatch.setattr(http, "resolve", lambda host, port: ["8.8.8.8", "10.0.0.1"])

    reason = http.url_refusal("https://mixed.example/")

    assert "resolves to a private address" in reason
    assert "10.0.0.1" not in reason  # the class, not a map of the internal network


@pytest.mark.parametrize(
    "url", ["ftp://example.com/", "https://user:pw@example.com/", "https://example.com:99999/"]
)
def test_malformed_urls_are_refused(url):
    assert http.url_refusal(url)


# --- Local receivers -------------------------------------------------------------------------


class Receiver(BaseHTTPRequestHandler):
    """Answers 200 with a short body; records the Host header, the path and the client port
    (to count TCP connections)."""

    protocol_version = "HTTP/1.1"  # keep-alive

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.seen.append((self.headers["Host"], self.path, self.client_address[1]))
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", self.server.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b'{"ok":true}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver(serve_http):
    return serve_http(Receiver)


def test_a_name_is_connected_at_the_address_checked(receiver, monkeypatch):
    # "receiver.test" resolves nowhere in real DNS: the answer can only come from connecting
    # to the address the policy checked, with the name kept for the Host header.
    monkeypatch.setattr(http, "resolve", lambda host, port: ["127.0.0.1"])
    port = receiver.server_port

    answer = http.post(f"http://receiver.test:{port}/in", b"{}", headers={})

    assert answer.ok, answer.error
    assert receiver.seen == [(f"receiver.test:{port}", "/in", receiver.seen[0][2])]


def test_dns_rebinding_is_refused_at_send_time(receiver, settings, monkeypatch):
    """A name public when saved and loopback when used: the send-time check refuses it."""
    settings.EGRESS_ALLOW_LOOPBACK = False
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])
    monkeypatch.setattr(http, "resolve", lambda host, port: next(answers))
    url = f"http://rebind.test:{receiver.server_port}/in"
    http.validate_url(url, field="url")  # at save time: public

    answer = http.post(url, b"{}", headers={})

    assert answer.status is None and answer.failure == "refused"
    assert "loopback" in answer.error
    assert receiver.seen == []


def test_loopback_is_refused_at_send_time_unless_allowed(receiver, settings):
    url = f"http://127.0.0.1:{receiver.server_port}/in"
    settings.EGRESS_ALLOW_LOOPBACK = False
    refused = http.post(url, b"{}", headers={})
    settings.EGRESS_ALLOW_LOOPBACK = True
    allowed = http.post(url, b"{}", headers={})

    assert refused.failure == "refused" and not refused.ok
    assert allowed.ok
    assert len(receiver.seen) == 1


def test_redirects_are_not_followed(receiver, serve_http):
    elsewhere = serve_http(Receiver)
    receiver.redirect_to = f"http://127.0.0.1:{elsewhere.server_port}/landed"

    answer = http.post(f"http://127.0.0.1:{receiver.server_port}/redirect", b"", headers={})

    assert answer.status == 302 and not answer.ok
    assert elsewhere.seen == []


def test_connections_are_kept_alive_per_checked_address(receiver):
    url = f"http://127.0.0.1:{receiver.server_port}/in"

    answers = [http.post(url, b"{}", headers={}) for _ in range(5)]

    assert all(answer.ok for answer in answers)
    assert len({client_port for _host, _path, client_port in receiver.seen}) == 1


# --- Dripping and endless receivers ------------------------------------------------------------


class RawServer:
    """A TCP server that reads the request and then runs ``behave(connection)``."""

    def __init__(self, behave):
        self.behave = behave
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(connection,), daemon=True).start()

    def _one(self, connection):
        with connection:
            connection.recv(65536)
            with contextlib.suppress(OSError):  # the client hung up: what the cut-off does
                self.behave(connection, self.stop)

    def close(self):
        self.stop.set()
        self.sock.close()


def drip(head: bytes, byte: bytes):
    """A receiver that sends ``head``, then ``byte`` every 100 ms (for at most 5 s, so that a
    client without a total deadline ends too — and the test fails instead of hanging)."""

    def behave(connection, stop):
        connection.sendall(head)
        for _ in range(50):
            if stop.wait(0.1):
                return
            connection.sendall(byte)

    return behave


# A 200 promising a megabyte, then its body a byte at a time.
drip_body = drip(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n", b"x")
# Never finishes the headers: one byte of a header line at a time.
drip_headers = drip(b"HTTP/1.1 200 OK\r\nX-Slow: ", b"x")
# Answers a TLS ClientHello with a record header announcing 16 KB, then a byte at a time: each
# read is quick, the handshake never ends.
drip_handshake = drip(b"\x16\x03\x03\x40\x00", b"\x00")


def endless_body(connection, stop):
    """An answer without a length that goes on (for 32 MB at most)."""
    connection.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
    chunk = b"y" * 65536
    for _ in range(512):
        if stop.is_set():
            return
        connection.sendall(chunk)


@pytest.fixture
def raw_server():
    servers = []

    def start(behave):
        servers.append(RawServer(behave))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.mark.parametrize("behave", [drip_body, drip_headers], ids=["body", "headers"])
def test_a_dripping_receiver_is_cut_off_at_the_total_deadline(raw_server, behave):
    server = raw_server(behave)

    answer = http.post(f"http://127.0.0.1:{server.port}/in", b"{}", headers={}, timeout=0.5)

    assert answer.failure == "deadline"
    assert answer.status is None and not answer.ok
    assert "no complete answer within 0.5 s" in answer.error


def test_a_dripping_tls_handshake_is_cut_off_at_the_total_deadline(raw_server):
    server = raw_server(drip_handshake)

    answer = http.post(f"https://127.0.0.1:{server.port}/in", b"{}", headers={}, timeout=0.5)

    assert answer.failure == "deadline" and answer.status is None


def test_an_endless_answer_is_capped_and_its_connection_closed(raw_server, receiver):
    server = raw_server(endless_body)

    answer = http.post(
        f"http://127.0.0.1:{server.port}/in", b"{}", headers={}, max_bytes=100_000, timeout=30
    )

    assert answer.failure == "too_large" and not answer.ok
    assert answer.status == 200 and len(answer.body) == 100_000
    assert "larger than 100000 bytes" in answer.error


def test_the_default_cap_is_the_setting(raw_server, settings):
    settings.EGRESS_MAX_RESPONSE_BYTES = 4096
    server = raw_server(endless_body)

    answer = http.post(f"http://127.0.0.1:{server.port}/in", b"{}", headers={}, timeout=30)

    assert answer.failure == "too_large" and len(answer.body) == 4096


def test_a_slow_but_timely_answer_is_read_whole(raw_server):
    def slow(connection, stop):
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n")
        for byte in b"abc":
            time.sleep(0.05)
            connection.sendall(bytes([byte]))

    server = raw_server(slow)

    answer = http.post(f"http://127.0.0.1:{server.port}/in", b"{}", headers={}, timeout=10)

    assert answer.ok and answer.body == b"abc" and answer.failure == ""


# --- TLS: the certificate and SNI are the name's, the connection the checked address's -------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "TrackLayer test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "receiver.test")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("receiver.test")]), False)
        .sign(ca_key, hashes.SHA256())
    )
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return folder


@pytest.fixture
def tls_receiver(tls_files, monkeypatch, serve_http):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls_files / "cert.pem", tls_files / "key.pem")
    names = []
    context.sni_callback = lambda sock, name, ctx: names.append(name)
    server = serve_http(Receiver, tls=context)
    server.sni = names
    monkeypatch.setattr(http, "CA_CERTS", str(tls_files / "ca.pem"))
    monkeypatch.setattr(http, "resolve", lambda host, port: ["127.0.0.1"])
    return server


def test_tls_verifies_the_name_while_connecting_to_the_checked_address(tls_receiver):
    port = tls_receiver.server_port

    answer = http.post(f"https://receiver.test:{port}/in", b"{}", headers={})

    assert answer.ok, answer.error
    assert tls_receiver.sni == ["receiver.test"]
    assert tls_receiver.seen[0][0] == f"receiver.test:{port}"


def test_tls_refuses_a_certificate_for_another_name(tls_receiver):
    answer = http.post(f"https://other.test:{tls_receiver.server_port}/in", b"{}", headers={})

    assert answer.status is None and not answer.ok
    assert "certificate" in answer.error.lower() or "hostname" in answer.error.lower()
    assert tls_receiver.seen == []
