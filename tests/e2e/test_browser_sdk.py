"""Segment's own analytics.js (the npm package ``@segment/analytics-next``, its UMD bundle) on a
shop's page, in a real browser, talking to the live API on another origin — so every rule of
CORS applies as it does on a real storefront.

No request leaves the machine: the shop's page, the bundle's lazy chunks and the settings
analytics.js fetches from its CDN (``/v1/projects/<writeKey>/settings``) are served by a small
local "shop" server, whose origin the page names as analytics.js's CDN (``analytics._cdn``, as
a proxied install does); Chromium is told to resolve no other name, and the test asserts that
every request went to the loopback.

Playwright's request interception (``page.route``/``context.route``) is deliberately not used:
while any route is active, Playwright answers every CORS preflight itself, allowing whatever
was asked — the very check these tests exist to make. Failures are made the real way instead:
the browser goes offline, and the workspace's rate limit answers 429.
"""

import json
import os
import threading
import time
from base64 import b64encode
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from destinations.ingestion import runtime
from destinations.models import Event, IngestionSettings
from tests.e2e.helpers import chromium
from tracklayer.devenv import ANALYTICS_NEXT_UMD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
# A stray request (a CDN, Segment's own API) fails at once instead of leaving the machine.
NO_OUTSIDE_NAMES = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"
# Chromium logs each 4xx as a console error; a throttled answer is expected here.
EXPECTED_CONSOLE = "the server responded with a status of 429"
SHOP_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Shop</title><link rel="icon" href="data:,">
<script>window.analytics = {_cdn: location.origin};</script>
<script src="/analytics-next/bundles/index.js"></script>
<script>
  window.shop = {
    ready: AnalyticsNext.AnalyticsBrowser.load(
      {writeKey: %(write_key)s},
      {integrations: {"Segment.io": {apiHost: %(api_host)s, protocol: "http"}}}
    ).then(function (loaded) { window.shop.analytics = loaded[0]; return true; }),
  };
</script></head><body><h1>Cotton socks</h1></body></html>
"""


@pytest.fixture(scope="module")
def analytics_next():
    """The bundle ``make browser`` installs (tests/e2e/js/package-lock.json pins the version)."""
    bundle = ANALYTICS_NEXT_UMD / "index.js"
    if not bundle.exists():
        message = f"{bundle} is missing: run `make browser` (npm ci of tests/e2e/js/)."
        if os.environ.get("CI") == "true":  # CI installs it; a skip there would hide a gap
            pytest.fail(message)
        pytest.skip(message)
    return ANALYTICS_NEXT_UMD


@pytest.fixture(scope="module")
def browser(analytics_next):
    """As tests/e2e/conftest.py's, plus the rule that no name but the loopback resolves."""
    with chromium(NO_OUTSIDE_NAMES) as browser:
        yield browser


class Shop:
    """A storefront on its own origin: its page, analytics.js's files and its CDN settings."""

    def __init__(self, umd, *, write_key: str, api_url: str):
        self.umd = umd
        api_host = urlsplit(api_url).netloc + "/v1"
        self.page = SHOP_PAGE % {
            "write_key": json.dumps(write_key),
            "api_host": json.dumps(api_host),
        }
        # What Segment's CDN answers for a source with only the Segment.io destination;
        # remote metrics off (they would post to the API's /v1/m).
        self.settings = {
            "integrations": {"Segment.io": {"apiKey": write_key}},
            "plan": {"track": {"__default": {"enabled": True}}},
            "metrics": {"sampleRate": 0},
            "analyticsNextEnabled": True,
            "middlewareSettings": {},
            "enabledMiddleware": {},
            "legacyVideoPluginsEnabled": False,
            "remotePlugins": [],
        }
        self.settings_path = f"/v1/projects/{write_key}/settings"
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _handler(self):
        shop = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                path = urlsplit(self.path).path
                if path == "/shop.html":
                    return self.answer(shop.page.encode(), "text/html; charset=utf-8")
                if path == shop.settings_path:
                    return self.answer(json.dumps(shop.settings).encode(), "application/json")
                name = path.removeprefix("/analytics-next/bundles/")
                file = shop.umd / name
                if name != path and "/" not in name and file.is_file():
                    return self.answer(file.read_bytes(), "text/javascript")
                self.send_error(404)

            def answer(self, body: bytes, content_type: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        return Handler

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@dataclass
class ShopPage:
    page: object  # playwright's Page, with analytics.js loaded
    api_url: str  # the live server: another origin than the page's
    token: str  # the workspace's write key, as the page knows it
    requests: list = field(default_factory=list)  # (method, URL, headers) of every request

    def api_posts(self) -> list[dict]:
        """The headers of each POST the page sent to the API (preflights are not listed)."""
        return [
            h
            for method, url, h in self.requests
            if method == "POST" and url.startswith(self.api_url)
        ]


@pytest.fixture
def shop(browser, live_server, analytics_next, workspace, make_api_key):
    """The shop's page on its own origin, analytics.js loaded with the workspace's write key."""
    _key, token = make_api_key(workspace)
    with Shop(analytics_next, write_key=token, api_url=live_server.url) as server:
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(15_000)
        loaded = ShopPage(page, api_url=live_server.url, token=token)
        errors: list[str] = []
        context.on("request", lambda r: loaded.requests.append((r.method, r.url, r.headers)))
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on(
            "console",
            lambda m: (
                errors.append(m.text)
                if m.type == "error" and EXPECTED_CONSOLE not in m.text
                else None
            ),
        )
        page.goto(f"{server.url}/shop.html")
        assert page.evaluate("window.shop.ready") is True
        yield loaded
        context.close()
    outside = {url for _m, url, _h in loaded.requests if urlsplit(url).hostname not in LOOPBACK}
    assert outside == set(), "requests left the machine"
    assert errors == [], f"browser errors: {sorted(set(errors))}"


def wait_until(page, predicate, *, timeout: float = 45.0) -> bool:
    """Poll until ``predicate()`` is true (a generous ceiling, not a timing assertion). Waits
    through Playwright, so that the page's events (requests seen) are delivered meanwhile."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        page.wait_for_timeout(250)
    return True


def stored(workspace, prefix: str) -> list[str]:
    return list(
        Event.objects.for_workspace(workspace)
        .filter(message_id__startswith=prefix)
        .values_list("message_id", flat=True)
    )


TRACK_SIX = """(prefix) => {
  for (let i = 0; i < 6; i++) {
    window.shop.analytics.track("Product Viewed", {sku: "socks-" + i}, {messageId: prefix + i});
  }
}"""


def test_events_sent_offline_arrive_exactly_once_after_reconnecting(shop, workspace):
    # Given a shop whose visitor loses the network
    page = shop.page
    page.context.set_offline(True)

    # When six events are tracked offline and the network comes back
    page.evaluate(TRACK_SIX, "offline-")
    page.context.set_offline(False)

    # Then analytics.js sends them as retries (X-Retry-Count: the header the preflight used to
    # refuse, so each retry was blocked and all six were lost) and each is stored once.
    arrived = wait_until(page, lambda: len(stored(workspace, "offline-")) >= 6)
    assert arrived, f"stored: {stored(workspace, 'offline-')}"
    message_ids = stored(workspace, "offline-")
    assert sorted(message_ids) == [f"offline-{i}" for i in range(6)]
    retries = [h for h in shop.api_posts() if "x-retry-count" in h]
    assert len(retries) >= 6
    assert all(h["authorization"].startswith("Basic ") for h in retries)
    event = Event.objects.for_workspace(workspace).get(message_id="offline-3")
    assert (event.type, event.name, event.properties["sku"]) == (
        "track",
        "Product Viewed",
        "socks-3",
    )


READ_A_THROTTLED_ANSWER = """async ([apiUrl, token]) => {
  const answers = [];
  for (let i = 0; i < 2; i++) {
    const response = await fetch(apiUrl + "/v1/t", {
      method: "POST",
      headers: {"Content-Type": "text/plain", "Authorization": "Basic " + btoa(token + ":")},
      body: JSON.stringify(
        {type: "track", event: "Probe", anonymousId: "a", messageId: "probe-" + i}
      ),
    });
    answers.push({
      status: response.status,
      retryAfter: response.headers.get("Retry-After"),
      rateLimitReset: response.headers.get("X-RateLimit-Reset"),
    });
  }
  return answers;
}"""


def test_a_throttled_shop_reads_retry_after_and_its_retries_arrive_once(shop, workspace):
    # Given a workspace allowed one event per second, with a burst of one
    page = shop.page
    IngestionSettings.objects.create(workspace=workspace, rate_per_second=1, rate_burst=1)
    runtime.runtime_forget()

    # When the page posts twice in a row, the second answer is a 429 whose Retry-After (read by
    # analytics.js 1.84+) and X-RateLimit-Reset (read before 1.84) the page's script can read:
    # they are not CORS-safelisted, so without Access-Control-Expose-Headers both read null.
    answers = page.evaluate(READ_A_THROTTLED_ANSWER, [shop.api_url, shop.token])
    assert answers[0]["status"] == 200
    assert answers[1]["status"] == 429
    assert answers[1]["retryAfter"] is not None and int(answers[1]["retryAfter"]) >= 1
    assert answers[1]["rateLimitReset"] == answers[1]["retryAfter"]

    # And analytics.js, sending six events at once into a burst of two, is answered 429 for
    # most of them and retries (with X-Retry-Count) until each is stored, once.
    IngestionSettings.objects.filter(workspace=workspace).update(rate_per_second=2, rate_burst=2)
    runtime.runtime_forget()
    page.evaluate(TRACK_SIX, "throttled-")
    arrived = wait_until(page, lambda: len(stored(workspace, "throttled-")) >= 6)
    assert arrived, f"stored: {stored(workspace, 'throttled-')}"
    assert sorted(stored(workspace, "throttled-")) == [f"throttled-{i}" for i in range(6)]
    assert any("x-retry-count" in h for h in shop.api_posts())
    basic = "Basic " + b64encode(f"{shop.token}:".encode()).decode()
    assert {h["authorization"] for h in shop.api_posts()} == {basic}
