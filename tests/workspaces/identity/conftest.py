"""Fixtures of the Settings → Identity tests: a signed-in admin, and the SSO tests' real
pysaml2 identity provider (tests/workspaces/sso/conftest.py) for its metadata."""

import pytest
from django.test import Client
from django.urls import reverse

from tests.workspaces.helpers import sign_in
from tests.workspaces.sso.conftest import TestIdp
from workspaces.sso import selectors as sso_selectors


@pytest.fixture
def admin_client(client, admin_user, workspace):
    sign_in(client, admin_user.email)
    return client


@pytest.fixture
def client_factory():
    """A new test client: another person's browser."""
    return Client


@pytest.fixture
def idp(tmp_path, client, workspace):
    """A real IdP (pysaml2, its own key made now) that trusts ``workspace``'s SP metadata
    (served once the SP's key exists, which the identity page's SP values make)."""
    sso_selectors.sp_values(workspace=workspace)
    response = client.get(reverse("sso:metadata", args=[workspace.slug]))
    assert response.status_code == 200
    return TestIdp(tmp_path, response.content.decode())


def url(workspace, name: str = "identity", **kwargs) -> str:
    return reverse(f"dashboard:{name}", kwargs={"slug": workspace.slug, **kwargs})
