"""A marketing admin checks what the consent firewall does with a visitor's signals, changes a
policy, and sees the decision change — in a real browser, under the dashboard's CSP."""

from datetime import UTC, datetime

import pytest

from audit.models import AuditEntry
from tests.e2e.helpers import open_demo
from tests.privacy.tcf_encoder import encode
from workspaces.management.commands.seed_demo import DEMO_SLUG

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Consent to measurement purposes only, and to Google (755) as a vendor.
MEASUREMENT_ONLY = encode(
    created=datetime(2026, 11, 20, 10, 15, 30, tzinfo=UTC),
    cmp_id=28,
    cmp_version=3,
    consent_language="DE",
    publisher_cc="DE",
    vendor_list_version=140,
    purpose_consents=[1, 7, 8, 9],
    vendor_consents=[755, 1126],
)


def decision(page, kind: str) -> str:
    return (
        page.get_by_test_id("decisions")
        .locator(f"tr[data-kind='{kind}']")
        .get_attribute("data-action")
    )


def test_consent_tester_decodes_and_decides_then_follows_a_policy_change(page):
    open_demo(page)
    page.locator(".sidebar").get_by_role("link", name="Consent tester").click()

    form = page.get_by_test_id("tester-form")
    form.get_by_label("TC string").fill(MEASUREMENT_ONLY)
    form.get_by_label("Country").fill("Germany")
    form.get_by_role("button", name="Decide").click()

    decoded = page.get_by_test_id("tcf-decoded")
    decoded.wait_for()
    assert "20 Nov 2026 10:15:30" in decoded.inner_text()
    assert decoded.locator("tr[data-purpose='7'] .badge-ok").count() == 1
    assert decoded.locator("tr[data-purpose='3'] .badge-ok").count() == 0
    assert page.get_by_test_id("vendor-consents").inner_text() == "2: 755, 1126"
    assert "DE" in page.get_by_test_id("jurisdiction").inner_text()
    assert decision(page, "meta_capi") == "block"
    assert "tcf_purpose_missing:3" in page.get_by_test_id("decisions").inner_text()
    assert decision(page, "ga4_mp") == "deliver"
    assert MEASUREMENT_ONLY in page.get_by_test_id("context-json").inner_text()
    tester_url = page.url  # the inputs are in the URL: a result can be shared

    # The admin decides Meta only needs measurement consent
    page.locator(".sidebar").get_by_role("link", name="Consent", exact=True).click()
    meta = page.get_by_test_id("policy-meta_capi")
    meta.get_by_label("3. Create profiles for personalised advertising").uncheck()
    meta.get_by_label("4. Use profiles to select personalised advertising").uncheck()
    meta.get_by_label("7. Measure advertising performance").check()
    meta.get_by_role("button", name="Save policy").click()
    page.get_by_text("Meta Conversions API: policy saved.").wait_for()

    entry = AuditEntry.objects.filter(workspace__slug=DEMO_SLUG).order_by("-idx").first()
    assert entry.event_type == "privacy.consent_settings_updated"

    page.goto(tester_url)
    assert decision(page, "meta_capi") == "deliver"

    # A malformed field comes back with its error, and nothing else is lost
    form = page.get_by_test_id("tester-form")
    form.get_by_label("Category preferences").fill("advertising maybe")
    form.get_by_role("button", name="Decide").click()
    page.get_by_test_id("consent-result").get_by_role("alert").wait_for()
    assert form.get_by_label("TC string").input_value() == MEASUREMENT_ONLY
