"""The dashboard and a workspace's region: chosen on the creation form, pinned on the settings
page, and where the data is stored said in plain words (workspaces.residency)."""

import html

import pytest
from django.urls import reverse

from tests.audit_entries import audit_count, audit_entries
from tests.factories import WorkspaceFactory
from workspaces.models import Membership, Workspace
from workspaces.residency import STORED_CENTRALLY, STORED_IN_REGION, workspace_data_residency

pytestmark = pytest.mark.django_db


@pytest.fixture
def eu_workspace(admin_user):
    return WorkspaceFactory(name="Acme EU", region="eu", owner=admin_user)


def page(client, name: str, workspace) -> str:
    response = client.get(reverse(name, args=[workspace.slug]))
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def test_the_creation_form_offers_both_regions_in_plain_words(client, admin_user):
    client.force_login(admin_user)

    body = client.get(reverse("dashboard:workspace-create")).content.decode()

    assert '<option value="us">United States</option>' in body
    assert '<option value="eu">European Union</option>' in body
    assert "cannot be changed afterwards" in body


def test_a_workspace_created_in_the_eu_lives_there(client, admin_user):
    client.force_login(admin_user)

    response = client.post(
        reverse("dashboard:workspace-create"), {"name": "Shop Europe", "region": "eu"}
    )

    workspace = Workspace.objects.get(name="Shop Europe")
    assert response.status_code == 302
    assert workspace.region == "eu"
    assert Membership.objects.get(workspace=workspace).user == admin_user
    (created,) = audit_entries(workspace, "workspace.created")
    assert created["payload"]["region"] == "eu"


def test_the_creation_form_refuses_an_unknown_region(client, admin_user):
    client.force_login(admin_user)

    response = client.post(
        reverse("dashboard:workspace-create"), {"name": "Shop Mars", "region": "mars"}
    )

    assert response.status_code == 400
    assert not Workspace.objects.filter(name="Shop Mars").exists()


def test_settings_say_what_is_stored_in_the_region_and_what_centrally(
    client, admin_user, eu_workspace
):
    client.force_login(admin_user)

    body = page(client, "dashboard:settings", eu_workspace)

    in_region = ", ".join(STORED_IN_REGION)
    centrally = ", ".join(STORED_CENTRALLY)
    assert f"Stored in the European Union region's database: {in_region}." in body
    assert f"Stored in TrackLayer's central (control-plane) database: {centrally}." in body
    assert "the audit log (it holds no event data)" in body
    assert "tracklayer workspace move-region" in body
    # What the page said before data residency was true: the audit log is not in the region.
    assert "Events and logs are stored in this region" not in body
    assert "Moving to" not in body


def test_the_overview_says_it_too(client, admin_user, eu_workspace):
    client.force_login(admin_user)

    body = page(client, "monitoring:overview", eu_workspace)

    assert "Stored in the European Union region's database: events, " in body


def test_while_a_move_copies_the_pages_say_ingestion_is_paused(client, admin_user, eu_workspace):
    Workspace.objects.filter(pk=eu_workspace.pk).update(moving_to="us")
    client.force_login(admin_user)

    for name in ("dashboard:settings", "monitoring:overview"):
        body = page(client, name, eu_workspace)
        assert "Moving to United States: ingestion is paused (SDKs retry)." in body, name
        # Still where it is until the move switches.
        assert "Stored in the European Union region's database" in body, name


def test_the_page_and_the_api_say_the_same_text(client, admin_user, eu_workspace):
    """One text: every item of ``workspace_data_residency`` is on the page as it is given."""
    client.force_login(admin_user)
    residency = workspace_data_residency(workspace=eu_workspace)

    body = page(client, "dashboard:settings", eu_workspace)

    for item in (*residency["stored_in_region"], *residency["stored_centrally"]):
        assert item in body
    assert residency["pinned"] in body


def test_a_settings_post_that_changes_the_region_is_refused(client, admin_user, eu_workspace):
    client.force_login(admin_user)
    entries = audit_count(eu_workspace)

    response = client.post(
        reverse("dashboard:settings", args=[eu_workspace.slug]),
        {"name": "Acme US", "region": "us"},
    )

    assert response.status_code == 400
    body = html.unescape(response.content.decode())
    assert "region is pinned" in body
    assert "tracklayer workspace move-region" in body
    eu_workspace.refresh_from_db()
    assert (eu_workspace.region, eu_workspace.name) == ("eu", "Acme EU")
    assert audit_count(eu_workspace) == entries


def test_a_settings_post_naming_its_own_region_renames(client, admin_user, eu_workspace):
    client.force_login(admin_user)

    response = client.post(
        reverse("dashboard:settings", args=[eu_workspace.slug]),
        {"name": "Acme Europe", "region": "eu"},
    )

    assert response.status_code == 302
    eu_workspace.refresh_from_db()
    assert (eu_workspace.region, eu_workspace.name) == ("eu", "Acme Europe")
