"""Browser tests: Playwright drives Debian's Chromium (``make test`` installs the package;
browsers cannot be downloaded here) against pytest-django's live server."""

import re

import pytest

from tests.e2e.helpers import chromium

EXPECTED_STATUS_LOG = re.compile(r"^Failed to load resource: .* status of (409|422) ")


@pytest.fixture(scope="module")
def browser():
    """One Chromium per test module (see ``chromium``)."""
    with chromium() as browser:
        yield browser


@pytest.fixture
def page(browser, live_server):
    """A fresh browser context. Console errors (a CSP violation, a failed script) fail the
    test: the dashboard must work under its own Content-Security-Policy."""
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []

    def on_console(message) -> None:
        # 422/409 are how the dashboard answers an htmx form with errors; Chromium logs every
        # 4xx response as a console error. Anything else (404 asset, CSP) is a real failure.
        if message.type == "error" and not EXPECTED_STATUS_LOG.search(message.text):
            errors.append(f"{message.text} at {message.location['url']}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: dialog.accept())
    yield page
    context.close()
    assert errors == [], f"browser console errors: {errors}"
