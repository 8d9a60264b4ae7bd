"""A security reviewer clicks Verify: valid; someone edits history; Verify again: broken."""

import pytest

from audit.models import AuditEntry
from tests.audit.tampering import as_owner_without_triggers
from tests.e2e.helpers import open_demo
from workspaces.management.commands.seed_demo import DEMO_SLUG

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_verify_shows_valid_then_broken_after_tampering(page):
    open_demo(page)
    page.locator(".sidebar").get_by_role("link", name="Audit log").click()

    # An admin signs a checkpoint; the verifier key and the signed note are shown to copy
    panel = page.get_by_test_id("audit-integrity")
    panel.get_by_role("button", name="Sign checkpoint now").click()
    page.locator("#checkpoint-note").wait_for()
    assert page.locator("#verifier-key").inner_text().startswith("tracklayer.local/audit/ws_")

    page.get_by_test_id("audit-integrity").get_by_role("button", name="Verify").click()
    page.get_by_test_id("verify-status").filter(has_text="Valid").wait_for()

    # Someone with the table owner's access rewrites an old entry
    entry = AuditEntry.objects.get(workspace__slug=DEMO_SLUG, idx=1)
    assert entry.event_type == "member.joined"
    as_owner_without_triggers(
        (
            "UPDATE audit_auditentry SET material = %s WHERE id = %s",
            [bytes(entry.material).replace(b"member.joined", b"member.left"), entry.pk],
        )
    )

    page.get_by_test_id("audit-integrity").get_by_role("button", name="Verify").click()
    page.get_by_test_id("verify-status").filter(has_text="Broken").wait_for()
    alert = page.get_by_test_id("audit-integrity").get_by_role("alert").inner_text()
    assert "entry #1: hash_mismatch" in alert
