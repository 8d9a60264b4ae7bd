"""In a real browser: an admin turns public verification on from Settings, and someone with no
account opens the public page, pastes an entry hash and gets its inclusion proof — with no
cookie set and no console error (the strict CSP holds)."""

import pytest

from audit.models import AuditEntry
from tests.e2e.helpers import chromium, open_demo
from workspaces.management.commands.seed_demo import DEMO_SLUG
from workspaces.models import Workspace

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def browser():
    """One Chromium for the module, as tests/e2e does (``chromium``)."""
    with chromium() as browser:
        yield browser


def _context(browser, live_server):
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return context, page, errors


def test_an_admin_opts_in_and_a_stranger_verifies_an_entry(browser, live_server):
    # The admin turns it on from Settings → Public verification (htmx)
    admin_context, admin, admin_errors = _context(browser, live_server)
    open_demo(admin)
    admin.goto(f"/w/{DEMO_SLUG}/settings/public-verification/")
    admin.get_by_role("button", name="Turn public verification on").click()
    admin.locator('[data-testid="public-verification-state"][data-state="on"]').wait_for()
    public_url = admin.get_by_test_id("public-page-url").inner_text()
    # … and signs a checkpoint over the log, that switch included
    admin.locator(".sidebar").get_by_role("link", name="Audit log").click()
    admin.get_by_test_id("audit-integrity").get_by_role(
        "button", name="Sign checkpoint now"
    ).click()
    admin.locator("#checkpoint-note").wait_for()
    admin_context.close()
    workspace = Workspace.objects.get(slug=DEMO_SLUG)
    entry = AuditEntry.objects.get(workspace=workspace, event_type="public_verification.enabled")

    # A stranger, signed in nowhere, opens the public page and asks for that entry's proof
    context, page, errors = _context(browser, live_server)
    page.goto(public_url)
    assert page.get_by_role("heading", level=1).inner_text() == "Audit log verification"
    assert workspace.name not in page.content()
    page.get_by_label("Entry hash").fill(entry.hash_hex)
    page.get_by_role("button", name="Get the inclusion proof").click()
    proof = page.get_by_test_id("proof")
    proof.wait_for()
    assert f"Entry {entry.idx} is in the log" in proof.inner_text()
    assert context.cookies() == []
    context.close()
    assert admin_errors == [] and errors == []
