"""A customer sees where a workspace's data lives: the EU demo workspace says its event data is
in the European Union's database and its account data centrally; the US one says the United
States; a new workspace is created in the region chosen, which the settings cannot change."""

import pytest

from tests.e2e.helpers import open_demo
from workspaces.models import Workspace
from workspaces.residency import STORED_CENTRALLY, STORED_IN_REGION

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

IN_REGION = ", ".join(STORED_IN_REGION)
CENTRALLY = ", ".join(STORED_CENTRALLY)


def residency_text(page) -> str:
    return page.get_by_test_id("data-residency").inner_text()


def test_an_admin_sees_where_each_workspaces_data_lives(page):
    open_demo(page)
    assert page.get_by_test_id("region").inner_text() == "European Union"

    page.locator(".sidebar").get_by_role("link", name="Settings").click()
    page.wait_for_url("**/w/acme/settings/")
    text = residency_text(page)
    assert f"Stored in the European Union region's database: {IN_REGION}." in text
    assert f"Stored in TrackLayer's central (control-plane) database: {CENTRALLY}." in text
    assert "tracklayer workspace move-region" in text
    # The settings form has nothing that edits the region
    assert page.get_by_test_id("settings-form").locator("[name=region]").count() == 0

    page.get_by_test_id("workspace-switcher").locator("summary").click()
    page.get_by_role("link", name="Acme Store US").click()
    page.wait_for_url("**/w/acme-us/")
    assert page.get_by_test_id("region").inner_text() == "United States"
    assert f"Stored in the United States region's database: {IN_REGION}." in residency_text(page)


def test_a_workspace_is_created_in_the_region_chosen(page):
    open_demo(page)
    page.get_by_test_id("workspace-switcher").locator("summary").click()
    page.get_by_role("link", name="+ New workspace").click()

    page.get_by_label("Name").fill("Shop Europe")
    page.get_by_label("Data region").select_option(label="European Union")
    page.get_by_role("button", name="Create workspace").click()

    page.get_by_test_id("data-residency").wait_for()
    assert Workspace.objects.get(name="Shop Europe").region == "eu"
    assert page.get_by_test_id("region").inner_text() == "European Union"
    assert "Stored in the European Union region's database" in residency_text(page)
