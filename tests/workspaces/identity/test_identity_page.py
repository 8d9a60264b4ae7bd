"""Settings → Identity: admins only; the MFA policy section posts with and without htmx."""

import pytest
from django.urls import reverse

from tests.audit_entries import audit_entries
from tests.workspaces.helpers import sign_in
from workspaces.dashboard import SIGN_IN_METHOD_KEY, SIGN_IN_SSO, SSO_WORKSPACE_KEY
from workspaces.models import Workspace

pytestmark = pytest.mark.django_db


def _url(workspace, name="dashboard:identity") -> str:
    return reverse(name, kwargs={"slug": workspace.slug})


def test_an_admin_sees_every_section(client, workspace, admin_user):
    sign_in(client, admin_user.email)

    response = client.get(_url(workspace))

    body = response.content.decode()
    assert response.status_code == 200
    for section in ("mfa-section", "saml-section", "scim-section", "identity-activity"):
        assert f'data-testid="{section}"' in body, section
    assert 'data-testid="identity-coverage"' in body


@pytest.mark.parametrize("role_user", ["editor_user", "viewer_user"])
def test_editors_and_viewers_are_refused(client, request, workspace, role_user):
    sign_in(client, request.getfixturevalue(role_user).email)

    assert client.get(_url(workspace)).status_code == 403
    assert (
        client.post(_url(workspace, "dashboard:identity-mfa"), {"required": "on"}).status_code
        == 403
    )
    assert Workspace.objects.get(pk=workspace.pk).mfa_required is False


@pytest.mark.parametrize(
    ("role_user", "shown"), [("admin_user", True), ("editor_user", False), ("viewer_user", False)]
)
def test_the_sidebar_links_the_page_for_admins_only(client, request, workspace, role_user, shown):
    sign_in(client, request.getfixturevalue(role_user).email)

    body = client.get(reverse("monitoring:overview", kwargs={"slug": workspace.slug})).content

    assert (f'href="{_url(workspace)}"'.encode() in body) is shown


def test_the_mfa_policy_form_posts_without_javascript(client, workspace, admin_user):
    sign_in(client, admin_user.email)

    response = client.post(_url(workspace, "dashboard:identity-mfa"), {"required": "on"})

    body = response.content.decode()
    assert response.status_code == 200
    assert "<!DOCTYPE html>" in body and "MFA is now required." in body
    assert 'data-testid="mfa-state">Required' in body
    # The admin has no authenticator app: told what happens next
    assert "You have no authenticator app yet" in body
    assert Workspace.objects.get(pk=workspace.pk).mfa_required is True
    [entry] = audit_entries(workspace, "workspace.mfa_policy_changed")
    assert entry["payload"] == {"mfa_required": {"before": False, "after": True}}


def test_with_htmx_only_the_section_comes_back(client, workspace, admin_user):
    sign_in(client, admin_user.email)
    client.post(_url(workspace, "dashboard:identity-mfa"), {"required": "on"})
    # (the admin has been sent to set up MFA since; SSO-style session for this check)
    session = client.session
    session[SIGN_IN_METHOD_KEY] = SIGN_IN_SSO
    session[SSO_WORKSPACE_KEY] = workspace.public_id
    session.save()

    response = client.post(_url(workspace, "dashboard:identity-mfa"), {}, HTTP_HX_REQUEST="true")

    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<section id="mfa-section"')
    assert "MFA is no longer required." in body
    assert Workspace.objects.get(pk=workspace.pk).mfa_required is False
