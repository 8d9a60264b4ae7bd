"""Single logout with the pysaml2 IdP (HTTP-Redirect binding, signed both ways)."""

from django.urls import reverse

from tests.audit_entries import audit_entries
from tests.factories import FACTORY_ACTOR
from tests.workspaces.sso.conftest import DOMAIN, IDP_SLO_URL, post_acs, start_login
from workspaces.sso import services
from workspaces.sso.models import SamlRequest

EMAIL = f"pat@{DOMAIN}"


def signed_in(client, workspace, idp):
    request_id = start_login(client, workspace, idp)
    assert post_acs(client, workspace, idp.response(in_response_to=request_id)).status_code == 302
    assert "_auth_user_id" in client.session


def test_sign_out_here_and_at_the_idp(client, sso_workspace, idp):
    signed_in(client, sso_workspace, idp)
    response = client.post(reverse("sso:logout", args=[sso_workspace.slug]))
    assert response.status_code == 302
    assert response["Location"].startswith(IDP_SLO_URL + "?SAMLRequest=")
    assert "Signature=" in response["Location"]
    assert "_auth_user_id" not in client.session
    answer = idp.answer_logout(response["Location"])
    back = client.get(answer)
    assert back.status_code == 302
    assert back["Location"] == reverse("account_login")
    assert not SamlRequest.objects.exists()  # the logout request was consumed


def test_an_unsigned_logout_answer_is_refused(client, sso_workspace, idp):
    signed_in(client, sso_workspace, idp)
    response = client.post(reverse("sso:logout", args=[sso_workspace.slug]))
    answer = idp.answer_logout(response["Location"], sign=False)
    refused = client.get(answer)
    assert refused.status_code == 403
    assert "<code>logout</code>" in refused.content.decode()


def test_the_idp_ends_the_session_of_the_person_it_names(client, sso_workspace, idp):
    signed_in(client, sso_workspace, idp)
    response = client.get(idp.logout_request(EMAIL))
    assert response.status_code == 302
    assert response["Location"].startswith(IDP_SLO_URL + "?SAMLResponse=")
    assert "Signature=" in response["Location"]
    assert "_auth_user_id" not in client.session
    [entry] = audit_entries(sso_workspace, "auth.sso_logout")
    assert entry["payload"] == {"initiated_by": "idp"}


def test_a_logout_request_for_someone_else_leaves_the_session(client, sso_workspace, idp):
    signed_in(client, sso_workspace, idp)
    assert client.get(idp.logout_request(f"other@{DOMAIN}")).status_code == 302
    assert "_auth_user_id" in client.session


def test_an_unsigned_logout_request_is_refused(client, sso_workspace, idp):
    signed_in(client, sso_workspace, idp)
    response = client.get(idp.logout_request(EMAIL, sign=False))
    assert response.status_code == 403
    assert "_auth_user_id" in client.session


def test_logout_needs_post_and_works_without_an_idp_logout_url(client, sso_workspace, idp):
    signed_in(client, sso_workspace, idp)
    assert client.get(reverse("sso:logout", args=[sso_workspace.slug])).status_code == 405
    services.saml_configure(workspace=sso_workspace, actor=FACTORY_ACTOR, idp_slo_url="")
    response = client.post(reverse("sso:logout", args=[sso_workspace.slug]))
    assert response["Location"] == reverse("account_login")
    assert "_auth_user_id" not in client.session


def test_garbage_at_the_logout_endpoint_is_a_clear_400(client, sso_workspace):
    url = reverse("sso:sls", args=[sso_workspace.slug])
    for query in ({}, {"SAMLResponse": "garbage"}, {"SAMLRequest": "garbage"}):
        assert client.get(url, query).status_code == 400
