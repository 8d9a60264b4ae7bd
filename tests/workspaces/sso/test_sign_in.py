"""SAML sign-in against a real IdP (pysaml2)."""

from tests.workspaces.sso.conftest import DOMAIN, post_acs, start_login
from workspaces.models import Membership


def test_sign_in_creates_the_member(client, sso_workspace, idp):
    request_id = start_login(client, sso_workspace, idp)
    response = post_acs(client, sso_workspace, idp.response(in_response_to=request_id))
    assert response.status_code == 302, response.content.decode()
    membership = Membership.objects.get(workspace=sso_workspace, user__email=f"pat@{DOMAIN}")
    assert membership.role == "viewer"
