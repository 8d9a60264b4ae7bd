"""Builders the browser tests share: the Chromium they drive and signing in to the demo."""

import os

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
