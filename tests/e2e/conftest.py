"""Browser tests: Playwright drives Debian's Chromium (``make test`` installs the package;
browsers cannot be downloaded here) against pytest-django's live server."""

import os
import re
import shutil

import pytest

from tests.e2e.helpers import CHROMIUM, CHROMIUM_ARGS

EXPECTED_STATUS_LOG = re.compile(r"^Failed to load resource: .* status of (409|422) ")


@pytest.fixture(scope="module")
def browser():
    """One Chromium per test module. Playwright's sync API keeps an event loop running in this
    thread while it is open; the tests still use the ORM between browser steps (and the live
    server's flush after each), which Django refuses in a thread with a running loop unless
    told otherwise — for exactly as long as the browser is open, and no longer."""
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}: run `make browser` (or `make test`).")
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


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
