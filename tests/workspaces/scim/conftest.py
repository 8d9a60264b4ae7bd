"""Fixtures of the SCIM tests: a token for ``workspace`` (and one for ``other_workspace``) and
a client that speaks SCIM with it."""

import json

import pytest
from django.test import Client

from workspaces.scim import services


class ScimClient:
    """The Django test client, sending ``Authorization: Bearer <token>`` and SCIM JSON."""

    def __init__(self, client, token: str | None):
        self.client = client
        self.token = token

    def headers(self, extra: dict) -> dict:
        headers = {"HTTP_AUTHORIZATION": f"Bearer {self.token}"} if self.token else {}
        return {**headers, **extra}

    def get(self, path: str, params: dict | None = None, **extra):
        return self.client.get(f"/scim/v2/{path}", params or {}, **self.headers(extra))

    def send(self, method: str, path: str, body=None, *, content_type=None, **extra):
        data = body if isinstance(body, str | bytes) or body is None else json.dumps(body)
        return getattr(self.client, method)(
            f"/scim/v2/{path}",
            data=data or "",
            content_type=content_type or "application/scim+json",
            **self.headers(extra),
        )

    def post(self, path, body=None, **options):
        return self.send("post", path, body, **options)

    def put(self, path, body=None, **options):
        return self.send("put", path, body, **options)

    def patch(self, path, body=None, **options):
        return self.send("patch", path, body, **options)

    def delete(self, path, **extra):
        return self.client.delete(f"/scim/v2/{path}", **self.headers(extra))


@pytest.fixture
def scim_token(workspace, admin_user):
    """``(ScimToken, token)`` of ``workspace``, made by its admin."""
    return services.scim_token_create(workspace=workspace, actor=admin_user, name="Okta")


@pytest.fixture
def scim(client, scim_token):
    return ScimClient(client, scim_token[1])


@pytest.fixture
def other_scim(other_workspace, other_admin_user):
    _row, token = services.scim_token_create(
        workspace=other_workspace, actor=other_admin_user, name="Entra"
    )
    return ScimClient(Client(), token)


def user_body(email: str, **extra) -> dict:
    """A User as Okta creates it (Okta's SCIM 2.0 reference, "Create Users")."""
    given, _, family = email.split("@")[0].partition(".")
    body = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": email,
        "name": {"givenName": given.title(), "familyName": family.title() or "Person"},
        "emails": [{"primary": True, "value": email, "type": "work"}],
        "displayName": f"{given.title()} {family.title()}".strip(),
        "locale": "en-US",
        "externalId": f"00u{abs(hash(email)) % 10**10}",
        "groups": [],
        "password": "never-stored-1!",
        "active": True,
    }
    body.update(extra)
    return body


def patch_body(*operations: dict) -> dict:
    return {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": list(operations),
    }


def assert_scim_error(response, status: int, scim_type: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/scim+json")
    body = response.json()
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert body["status"] == str(status)
    assert body["detail"]
    if scim_type is not None:
        assert body.get("scimType") == scim_type, body
    else:
        assert "scimType" not in body
    return body
