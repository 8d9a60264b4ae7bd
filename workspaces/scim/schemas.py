"""What the server says about itself (RFC 7643 §5–7): ServiceProviderConfig, ResourceTypes and
Schemas. The core User and Group schemas are django-scim2's, cut down to the attributes this
server stores, so a client reading ``/Schemas`` learns what it can really send."""

import copy

from django.conf import settings
from django_scim.constants import SchemaURI
from django_scim.schemas import ALL as DJANGO_SCIM_SCHEMAS

PREFIX = "/scim/v2"
MAX_RESULTS = 200

USER_ATTRIBUTES = ("userName", "name", "displayName", "active", "emails", "groups")
NAME_SUB_ATTRIBUTES = ("givenName", "familyName", "formatted")
GROUP_ATTRIBUTES = ("displayName", "members")
EXTERNAL_ID = {
    "name": "externalId",
    "type": "string",
    "multiValued": False,
    "description": "The identity provider's identifier of the resource.",
    "required": False,
    "caseExact": True,
    "mutability": "readWrite",
    "returned": "default",
    "uniqueness": "none",
}


def url(path: str) -> str:
    return f"{settings.TRACKLAYER_BASE_URL}{PREFIX}/{path}"


def _schema(schema_id: str) -> dict:
    return copy.deepcopy(next(s for s in DJANGO_SCIM_SCHEMAS if s["id"] == schema_id))


def _keep(attributes: list[dict], names) -> list[dict]:
    return [a for a in attributes if a["name"] in names]


def user_schema() -> dict:
    schema = _schema(SchemaURI.USER)
    schema["attributes"] = [*_keep(schema["attributes"], USER_ATTRIBUTES), EXTERNAL_ID]
    for attribute in schema["attributes"]:
        if attribute["name"] == "name":
            attribute["subAttributes"] = _keep(attribute["subAttributes"], NAME_SUB_ATTRIBUTES)
        if attribute["name"] == "userName":
            attribute["description"] = "The person's e-mail address, their TrackLayer sign-in."
    return _with_meta(schema)


def group_schema() -> dict:
    schema = _schema(SchemaURI.GROUP)
    schema["attributes"] = [*_keep(schema["attributes"], GROUP_ATTRIBUTES), EXTERNAL_ID]
    return _with_meta(schema)


def _with_meta(schema: dict) -> dict:
    schema["schemas"] = ["urn:ietf:params:scim:schemas:core:2.0:Schema"]
    schema["meta"] = {"resourceType": "Schema", "location": url(f"Schemas/{schema['id']}")}
    return schema


def schemas() -> dict[str, dict]:
    return {SchemaURI.USER: user_schema(), SchemaURI.GROUP: group_schema()}


def resource_types() -> dict[str, dict]:
    def resource_type(name: str, endpoint: str, schema: str, description: str) -> dict:
        return {
            "schemas": [SchemaURI.RESOURCE_TYPE],
            "id": name,
            "name": name,
            "endpoint": f"/{endpoint}",
            "description": description,
            "schema": schema,
            "schemaExtensions": [],
            "meta": {"resourceType": "ResourceType", "location": url(f"ResourceTypes/{name}")},
        }

    return {
        "User": resource_type(
            "User", "Users", SchemaURI.USER, "A person: a member of the workspace while active."
        ),
        "Group": resource_type(
            "Group", "Groups", SchemaURI.GROUP, "An identity provider's group, mapped to a role."
        ),
    }


def service_provider_config() -> dict:
    return {
        "schemas": [SchemaURI.SERVICE_PROVIDER_CONFIG],
        "documentationUri": f"{settings.TRACKLAYER_BASE_URL}/docs/identity#scim",
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": False},
        "sort": {"supported": False},
        "etag": {"supported": False},
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "Bearer token",
                "description": "The workspace's SCIM token: Authorization: Bearer tlscim_…",
                "primary": True,
            }
        ],
        "meta": {"resourceType": "ServiceProviderConfig", "location": url("ServiceProviderConfig")},
    }
