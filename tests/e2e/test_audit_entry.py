"""An auditor opens the audit log, clicks an entry and sees its inclusion proof verified."""

import pytest

from audit.models import AuditCheckpoint
from tests.e2e.helpers import open_demo
from workspaces.management.commands.seed_demo import DEMO_SLUG

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_an_entry_opens_with_its_proof_verified(page):
    open_demo(page)
    page.locator(".sidebar").get_by_role("link", name="Audit log").click()

    # A checkpoint is signed over everything listed
    page.get_by_test_id("audit-integrity").get_by_role("button", name="Sign checkpoint now").click()
    page.locator("#checkpoint-note").wait_for()
    size = AuditCheckpoint.objects.get(workspace__slug=DEMO_SLUG).size

    # The newest listed entry opens above the table (htmx), its URL in the address bar
    link = page.get_by_test_id("entry-link").first
    idx = int(link.inner_text())
    assert idx < size
    link.click()
    entry = page.get_by_test_id("audit-entry")
    entry.wait_for()
    page.wait_for_url(f"**/w/{DEMO_SLUG}/audit/{idx}/")
    proof = entry.get_by_test_id("entry-proof")
    assert proof.get_attribute("data-status") == "verified"
    assert "✔ Verified" in proof.get_by_test_id("proof-status").inner_text()
    assert entry.get_by_test_id("entry-actor").inner_text().strip()
    assert proof.get_by_role("link", name="Download the proof (JSON)").is_visible()

    # The same address opened directly is the entry's own page, proof verified
    page.reload()
    assert page.get_by_role("heading", level=1).inner_text() == f"Audit entry #{idx}"
    assert page.get_by_test_id("entry-proof").get_attribute("data-status") == "verified"
