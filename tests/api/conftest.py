"""API tests call the API as an integration does: a key of a given role, JSON over HTTP, and —
for errors no view answers — Django's own handlers, so the client does not re-raise."""

import pytest
from rest_framework.test import APIClient

from workspaces.models import ApiKeyRole


@pytest.fixture
def call(workspace, make_api_key):
    """``call(method, path, role=…, data=…, **headers)``: ``/v1/<path>`` with a key of that role
    in ``workspace``; an unhandled exception comes back as the 500 a client would get."""
    client = APIClient(raise_request_exception=False)
    tokens = {}

    def request(method, path, *, role=ApiKeyRole.ADMIN, data=None, **headers):
        if role is not None and role not in tokens:
            tokens[role] = make_api_key(workspace, role=role, name=f"{role} key")[1]
        if role is not None:
            headers["HTTP_AUTHORIZATION"] = f"Bearer {tokens[role]}"
        return getattr(client, method)(f"/v1/{path}", data, format="json", **headers)

    return request
