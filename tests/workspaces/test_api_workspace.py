"""The API and a workspace's region: ``/v1/whoami`` and ``/v1/workspace`` say where its data is
stored (the dashboard's text, workspaces.residency); no request changes the region."""

import pytest

from tests.audit_entries import audit_count, last_entry
from tests.factories import WorkspaceFactory
from tests.workspaces.helpers import bearer
from workspaces.models import ApiKeyRole, Workspace
from workspaces.residency import STORED_CENTRALLY, STORED_IN_REGION

pytestmark = pytest.mark.django_db

WHOAMI = "/v1/whoami"
WORKSPACE = "/v1/workspace"


@pytest.fixture
def eu_workspace(admin_user):
    return WorkspaceFactory(name="Acme EU", region="eu", owner=admin_user)


@pytest.fixture
def admin_token(eu_workspace, make_api_key):
    return make_api_key(eu_workspace, role=ApiKeyRole.ADMIN)[1]


def expected_residency(**moving) -> dict:
    return {
        "region": "eu",
        "label": "European Union",
        "stored_in_region": list(STORED_IN_REGION),
        "stored_centrally": list(STORED_CENTRALLY),
        "moving_to": None,
        "notice": None,
        "pinned": (
            "The region is chosen when the workspace is created and cannot be edited. "
            "TrackLayer's staff can move a workspace to another region with a verified move "
            "(tracklayer workspace move-region)."
        ),
        **moving,
    }


def test_whoami_keeps_the_region_and_says_where_data_is_stored(
    api_client, eu_workspace, make_api_key
):
    _key, token = make_api_key(eu_workspace)  # a write key: whoami answers any key

    body = api_client.get(WHOAMI, **bearer(token)).json()

    assert body["region"] == "eu"
    assert body["data_residency"] == expected_residency()
    assert "events" in body["data_residency"]["stored_in_region"]
    assert "the audit log (it holds no event data)" in body["data_residency"]["stored_centrally"]


def test_while_a_move_copies_the_api_says_where_to_and_that_ingestion_is_paused(
    api_client, eu_workspace, admin_token
):
    Workspace.objects.filter(pk=eu_workspace.pk).update(moving_to="us")

    body = api_client.get(WORKSPACE, **bearer(admin_token)).json()

    assert body["data_residency"] == expected_residency(
        moving_to={"region": "us", "label": "United States"},
        notice="Moving to United States: ingestion is paused (SDKs retry).",
    )


def test_the_workspace_api_describes_the_keys_workspace(api_client, eu_workspace, admin_token):
    response = api_client.get(WORKSPACE, **bearer(admin_token))

    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["name"], body["slug"], body["region"]) == (
        eu_workspace.public_id,
        "Acme EU",
        eu_workspace.slug,
        "eu",
    )
    assert body["data_residency"] == expected_residency()


def test_a_patch_that_changes_the_region_is_refused(api_client, eu_workspace, admin_token):
    entries = audit_count(eu_workspace)

    response = api_client.patch(
        WORKSPACE, {"name": "Acme US", "region": "us"}, format="json", **bearer(admin_token)
    )

    assert response.status_code == 409
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("region_pinned", "region")
    assert "tracklayer workspace move-region" in error["message"]
    eu_workspace.refresh_from_db()
    assert (eu_workspace.region, eu_workspace.name) == ("eu", "Acme EU")
    assert audit_count(eu_workspace) == entries


def test_a_patch_with_an_unknown_region_is_invalid(api_client, eu_workspace, admin_token):
    response = api_client.patch(WORKSPACE, {"region": "mars"}, format="json", **bearer(admin_token))

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert Workspace.objects.get(pk=eu_workspace.pk).region == "eu"


def test_a_patch_renames_and_is_audited_as_the_dashboard_does(
    api_client, eu_workspace, admin_token
):
    response = api_client.patch(
        WORKSPACE, {"name": "Acme Europe", "region": "eu"}, format="json", **bearer(admin_token)
    )

    assert response.status_code == 200
    assert (response.json()["name"], response.json()["region"]) == ("Acme Europe", "eu")
    entry = last_entry(eu_workspace)
    assert entry["event_type"] == "workspace.updated"
    assert entry["payload"] == {"changes": {"name": {"before": "Acme EU", "after": "Acme Europe"}}}


@pytest.mark.parametrize("path", [WHOAMI, WORKSPACE])
def test_put_is_not_a_way_to_change_the_region(api_client, eu_workspace, admin_token, path):
    response = api_client.put(path, {"region": "us"}, format="json", **bearer(admin_token))

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert Workspace.objects.get(pk=eu_workspace.pk).region == "eu"


@pytest.mark.parametrize("role", [ApiKeyRole.WRITE, ApiKeyRole.AUDIT])
def test_only_an_admin_key_reads_or_renames_the_workspace(
    api_client, eu_workspace, make_api_key, role
):
    _key, token = make_api_key(eu_workspace, role=role)

    assert api_client.get(WORKSPACE, **bearer(token)).status_code == 403
    renamed = api_client.patch(WORKSPACE, {"name": "X"}, format="json", **bearer(token))
    assert renamed.status_code == 403
    assert Workspace.objects.get(pk=eu_workspace.pk).name == "Acme EU"
