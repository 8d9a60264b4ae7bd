"""ServiceProviderConfig, ResourceTypes and Schemas (RFC 7643 §5–7, RFC 7644 §4)."""

import pytest

from tests.workspaces.scim.conftest import assert_scim_error

pytestmark = pytest.mark.django_db

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


def test_service_provider_config_says_what_is_supported(scim):
    response = scim.get("ServiceProviderConfig")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/scim+json")
    config = response.json()
    assert config["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"]
    assert config["patch"] == {"supported": True}
    assert config["filter"] == {"supported": True, "maxResults": 200}
    assert config["bulk"]["supported"] is False
    assert config["authenticationSchemes"][0]["type"] == "oauthbearertoken"
    assert config["meta"]["location"].endswith("/scim/v2/ServiceProviderConfig")


def test_resource_types_list_users_and_groups(scim):
    body = scim.get("ResourceTypes").json()

    assert body["schemas"] == [LIST] and body["totalResults"] == 2
    by_name = {r["name"]: r for r in body["Resources"]}
    assert by_name["User"]["endpoint"] == "/Users" and by_name["User"]["schema"] == USER
    assert by_name["Group"]["endpoint"] == "/Groups" and by_name["Group"]["schema"] == GROUP
    assert scim.get("ResourceTypes/User").json()["id"] == "User"
    assert_scim_error(scim.get("ResourceTypes/Robot"), 404)


def test_schemas_describe_only_the_attributes_stored(scim):
    body = scim.get("Schemas").json()

    assert {s["id"] for s in body["Resources"]} == {USER, GROUP}
    user = scim.get(f"Schemas/{USER}").json()
    names = {a["name"] for a in user["attributes"]}
    assert names == {
        "userName", "name", "displayName", "active", "emails", "groups", "externalId"
    }  # fmt: skip
    assert user["meta"] == {"resourceType": "Schema", "location": user["meta"]["location"]}
    assert user["meta"]["location"].endswith(f"/scim/v2/Schemas/{USER}")
    assert_scim_error(scim.get("Schemas/urn:nope"), 404)


def test_an_unknown_path_is_a_scim_404(scim):
    assert_scim_error(scim.get("Widgets"), 404)


def test_a_method_an_endpoint_does_not_take_is_405(scim):
    assert_scim_error(scim.post("ServiceProviderConfig", {}), 405)
    assert_scim_error(scim.delete("Users"), 405)
