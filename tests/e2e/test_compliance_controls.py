"""A member opens Compliance → Controls from the sidebar, narrows it to ISO 27001 (htmx, the
address follows), goes from a control to its evidence and from there to the page where the
evidence lives — in a real browser, under the dashboard's CSP."""

import re

import pytest

from tests.e2e.helpers import open_demo
from workspaces.management.commands.seed_demo import DEMO_SLUG

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
]


def test_filter_by_framework_and_follow_an_evidence_link(page):
    open_demo(page)
    page.get_by_test_id("nav-compliance").click()
    page.wait_for_url(f"**/w/{DEMO_SLUG}/compliance/")
    rows = page.locator("[data-testid=controls-table] tbody tr[data-control]")
    assert rows.count() == 14
    assert page.get_by_test_id("nav-compliance").get_attribute("aria-current") == "page"
    summary = sum(
        int(page.get_by_test_id(f"summary-{status}").locator("strong").inner_text())
        for status in ("attention", "met", "na")
    )
    assert summary == 14

    page.get_by_label("Framework").select_option("iso27001")
    page.wait_for_url(re.compile(r"\?framework=iso27001$"))
    page.locator("[data-testid=controls-table] tr[data-control='CC6.1']").wait_for(state="detached")
    assert rows.count() == 6
    assert set(rows.evaluate_all("rows => rows.map(r => r.dataset.framework)")) == {"iso27001"}

    row = page.locator("tr[data-control='A.5']")
    row.locator("[data-evidence=api_keys]").get_by_role("link").click()  # to its evidence
    page.wait_for_url(re.compile(r"#evidence-api_keys$"))
    evidence = page.locator("article#evidence-api_keys")
    assert evidence.get_by_role("heading").inner_text().startswith("API key ages")
    evidence.get_by_role("link", name="API keys →").click()  # to where it lives
    page.wait_for_url(f"**/w/{DEMO_SLUG}/api-keys/")
    assert page.get_by_role("heading", level=1).inner_text().startswith("API keys")
