"""The one way TrackLayer talks to the outside over HTTP: timeouts always, no redirects
followed to other hosts, errors as values the caller records. (Issue 7 grows it into the
delivery client with retries, pooling and per-destination limits.)"""

import urllib.error
import urllib.request
from dataclasses import dataclass

DEFAULT_TIMEOUT = 10.0
USER_AGENT = "TrackLayer/0.1 (+https://tracklayer.local)"


@dataclass(frozen=True)
class HttpResult:
    status: int | None
    body: bytes
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def post(
    url: str, body: bytes, *, headers: dict[str, str], timeout: float = DEFAULT_TIMEOUT
) -> HttpResult:
    if not url.startswith(("https://", "http://")):
        return HttpResult(None, b"", "only http(s) URLs are allowed")
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url, data=body, method="POST", headers={"User-Agent": USER_AGENT, **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return HttpResult(response.status, response.read(65536))
    except urllib.error.HTTPError as error:
        return HttpResult(error.code, error.read(65536), f"HTTP {error.code}")
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        return HttpResult(None, b"", f"{type(error).__name__}: {reason}"[:300])
