"""Builders the browser tests share: the Chromium they drive and signing in to the demo."""

import os
import shutil
from contextlib import contextmanager

import pytest
from django.core.management import call_command

from workspaces.management.commands.seed_demo import DEMO_PASSWORD, DEMO_SLUG

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# As the machine's checks showed: without these, Chromium tries to reach Google's services,
# which this sandbox refuses, and runs as root only without its sandbox.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def chromium(*extra_args: str):
    """A headless Chromium with ``CHROMIUM_ARGS`` and ``extra_args``. Playwright's sync API
    keeps an event loop running in this thread while it is open; the tests still use the ORM
    between browser steps (and the live server's flush after each), which Django refuses in a
    thread with a running loop unless told otherwise — for exactly as long as the browser is
    open, and no longer."""
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}: run `make browser` (or `make test`).")
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, *extra_args]
        )
        yield browser
        browser.close()


def sign_in(page, email: str, password: str = DEMO_PASSWORD) -> None:
    page.goto("/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def open_demo(page, email: str = "admin@demo.tracklayer.test") -> None:
    """Seed the demo workspace, sign in as one of its people and land on its overview."""
    call_command("seed_demo")
    sign_in(page, email)
    page.wait_for_url(f"**/w/{DEMO_SLUG}/")
