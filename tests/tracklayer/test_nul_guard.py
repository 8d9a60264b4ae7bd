"""A NUL character in a path or query string is a 404 or a named 400, never a 500 (found in
review of issue 11: ``GET /v1/events/a%00b``, ``/v1/destinations/%00`` and dashboard pages
such as ``…/deliveries/?message_id=%00`` reached PostgreSQL, which cannot compare with NUL)."""

import pytest
from django.urls import reverse

from tests.destinations.factories import DestinationFactory
from workspaces.models import ApiKeyRole

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_key(workspace, make_api_key):
    return make_api_key(workspace, role=ApiKeyRole.ADMIN, name="Reviewer")[1]


def get(client, url, token):
    return client.get(url, HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.mark.parametrize("path", ["/v1/events/%00", "/v1/events/a%00b", "/v1/destinations/%00"])
def test_nul_in_an_api_path_is_a_json_404(client, admin_key, path):
    response = get(client, path, admin_key)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("query", "field"),
    [("messageId=%00", "messageId"), ("status=delivered&destination=a%00", "destination")],
)
def test_nul_in_an_api_query_is_a_400_naming_the_parameter(client, admin_key, query, field):
    response = get(client, f"/v1/deliveries?{query}", admin_key)

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("nul_character", field)


def test_nul_in_a_query_parameters_name_is_shown_escaped(client, admin_key):
    response = get(client, "/v1/deliveries?a%00b=1", admin_key)

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "a\\u0000b"


def test_nul_in_a_dashboard_path_is_a_404(client, workspace, admin_user):
    client.force_login(admin_user)

    response = client.get(f"/w/{workspace.slug}/events/a%00b/")

    assert response.status_code == 404


@pytest.mark.parametrize(
    ("name", "query"),
    [
        ("destinations:deliveries", "message_id=%00"),
        ("destinations:deliveries", "destination=%00"),
        ("destinations:dead-letters", "destination=%00"),
    ],
)
def test_nul_in_a_dashboard_query_is_a_400(client, workspace, admin_user, name, query):
    client.force_login(admin_user)

    response = client.get(f"{reverse(name, args=[workspace.slug])}?{query}")

    assert response.status_code == 400


def test_text_without_nul_still_reaches_the_view(client, workspace, admin_user, admin_key):
    client.force_login(admin_user)

    assert get(client, "/v1/events/a%01b", admin_key).status_code == 404  # looked up, not found
    assert get(client, "/v1/deliveries?messageId=m-1", admin_key).status_code == 200
    page = client.get(f"{reverse('destinations:deliveries', args=[workspace.slug])}?message_id=m")
    assert page.status_code == 200


def test_nul_in_a_posted_dashboard_field_is_a_400(client, workspace, admin_user):
    # Views that read a posted field without a form: the replay's destination, a pause reason.
    destination = DestinationFactory(workspace=workspace)
    client.force_login(admin_user)
    replay = reverse("destinations:dead-letters-replay", args=[workspace.slug])
    pause = reverse("destinations:destination-pause", args=[workspace.slug, destination.public_id])

    assert client.post(replay, {"destination": "a\x00b"}).status_code == 400
    assert client.post(pause, {"reason": "a\x00b"}).status_code == 400
    destination.refresh_from_db()
    assert destination.state == "active"
