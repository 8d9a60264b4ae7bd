"""The one way TrackLayer talks to the outside over HTTP: pooled keep-alive connections,
timeouts always, no redirects, errors as values the caller records (never raised).

Adapters build requests and read answers; this module only moves bytes.
"""

import time
from dataclasses import dataclass, field

import urllib3

DEFAULT_TIMEOUT = 10.0
CONNECT_TIMEOUT = 3.0
USER_AGENT = "TrackLayer/0.1 (+https://tracklayer.local)"

# One pool manager per process: connections to a platform are reused across batches.
_pool = urllib3.PoolManager(
    num_pools=64,
    maxsize=16,
    retries=False,
    headers={"User-Agent": USER_AGENT},
)


@dataclass(frozen=True)
class HttpResult:
    status: int | None
    body: bytes
    error: str = ""
    headers: dict = field(default_factory=dict)
    elapsed_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def post(
    url: str,
    body: bytes,
    *,
    headers: dict[str, str],
    timeout: float = DEFAULT_TIMEOUT,
    connect_timeout: float = CONNECT_TIMEOUT,
) -> HttpResult:
    """POST ``body``; a status, or ``status=None`` with ``error`` when no answer came."""
    if not url.startswith(("https://", "http://")):
        return HttpResult(None, b"", "only http(s) URLs are allowed")
    started = time.perf_counter()
    try:
        response = _pool.request(
            "POST",
            url,
            body=body,
            headers=headers,
            timeout=urllib3.Timeout(connect=connect_timeout, read=timeout),
            redirect=False,
            preload_content=False,
        )
        try:
            data = response.read(65536)
        finally:
            response.drain_conn()
            response.release_conn()
        return HttpResult(
            response.status,
            data,
            "" if response.status < 400 else f"HTTP {response.status}",
            {name.lower(): value for name, value in response.headers.items()},
            int((time.perf_counter() - started) * 1000),
        )
    except urllib3.exceptions.HTTPError as error:
        reason = getattr(error, "reason", None) or error
        return HttpResult(
            None,
            b"",
            f"{type(error).__name__}: {reason}"[:300],
            {},
            int((time.perf_counter() - started) * 1000),
        )
