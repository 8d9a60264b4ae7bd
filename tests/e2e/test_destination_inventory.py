"""In a real browser: the demo's destination inventory is complete (every demo destination has
an owner and a purpose); an admin takes the owner off one on its form, and the inventory then
flags it — under the dashboard's CSP, no console error."""

import pytest

from tests.e2e.helpers import open_demo
from workspaces.management.commands.seed_demo import DEMO_SLUG

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_demo_inventory_is_complete_until_an_owner_is_removed(page):
    open_demo(page)
    page.goto(f"/w/{DEMO_SLUG}/compliance/inventory/")
    rows = page.locator("[data-testid=inventory-table] tbody tr[data-destination]")
    assert rows.count() == 4
    assert page.get_by_test_id("inventory-incomplete").count() == 0
    assert "No owner" not in page.get_by_test_id("inventory-table").inner_text()

    # The admin opens the Meta destination and names nobody as its owner
    page.get_by_role("link", name="Meta (local)").click()
    page.get_by_label("Owner").select_option("")
    page.get_by_test_id("save").click()
    page.get_by_text("Meta (local) saved.").wait_for()

    page.goto(f"/w/{DEMO_SLUG}/compliance/inventory/")
    warning = page.get_by_test_id("inventory-incomplete")
    assert warning.inner_text().startswith("1 destination without an owner")
    meta = rows.filter(has_text="Meta (local)")
    assert "No owner" in meta.get_by_test_id("owner").inner_text()
