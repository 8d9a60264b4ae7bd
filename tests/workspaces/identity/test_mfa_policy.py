"""The workspace's MFA policy: set by an admin (audited), enforced by the dashboard's gate on
every page of the workspace for password sign-ins without an authenticator app."""

import pytest
from django.urls import reverse

from tests.audit_entries import audit_entries
from tests.factories import TEST_PASSWORD
from tests.workspaces.helpers import activate_totp, bearer, sign_in
from tracklayer.exceptions import PermissionDeniedError
from workspaces import services as workspace_services
from workspaces.dashboard import SIGN_IN_METHOD_KEY, SIGN_IN_SSO, SSO_WORKSPACE_KEY
from workspaces.identity import services
from workspaces.models import ApiKeyRole, Workspace

pytestmark = pytest.mark.django_db

SETUP_URL = "/accounts/2fa/totp/activate/"
# One page of each app that goes through the gate, and the identity page itself.
DASHBOARD_PAGES = [
    "monitoring:overview",
    "dashboard:members",
    "dashboard:api-keys",
    "dashboard:settings",
    "dashboard:identity",
    "audit:log",
    "destinations:events",
    "destinations:destinations",
    "destinations:tracking-plan",
    "privacy:consent",
]


@pytest.fixture
def mfa_workspace(workspace, admin_user):
    return services.mfa_policy_set(workspace=workspace, actor=admin_user, required=True)


# --- The policy, set and audited --------------------------------------------------------------


def test_turning_the_policy_on_and_off_is_audited_with_before_and_after(workspace, admin_user):
    services.mfa_policy_set(workspace=workspace, actor=admin_user, required=True)
    workspace.refresh_from_db()
    assert workspace.mfa_required is True

    services.mfa_policy_set(workspace=workspace, actor=admin_user, required=False)
    workspace.refresh_from_db()
    assert workspace.mfa_required is False

    entries = audit_entries(workspace, "workspace.mfa_policy_changed")
    assert [e["payload"] for e in entries] == [
        {"mfa_required": {"before": False, "after": True}},
        {"mfa_required": {"before": True, "after": False}},
    ]
    assert {e["actor"] for e in entries} == {f"user:{admin_user.public_id}"}
    assert {e["resource_id"] for e in entries} == {workspace.public_id}


def test_setting_the_value_it_already_has_records_nothing(workspace, admin_user):
    services.mfa_policy_set(workspace=workspace, actor=admin_user, required=False)
    assert audit_entries(workspace, "workspace.mfa_policy_changed") == []


@pytest.mark.parametrize("role_user", ["editor_user", "viewer_user", "other_admin_user"])
def test_only_the_workspaces_admins_may_set_it(request, workspace, role_user):
    actor = request.getfixturevalue(role_user)
    with pytest.raises(PermissionDeniedError):
        services.mfa_policy_set(workspace=workspace, actor=actor, required=True)
    assert Workspace.objects.get(pk=workspace.pk).mfa_required is False
    assert audit_entries(workspace, "workspace.mfa_policy_changed") == []


# --- Enforcement ------------------------------------------------------------------------------


def _page(name, workspace) -> str:
    return reverse(name, kwargs={"slug": workspace.slug})


@pytest.mark.parametrize("name", DASHBOARD_PAGES)
def test_a_password_member_without_mfa_is_sent_to_set_it_up_from_every_page(
    client, mfa_workspace, editor_user, name
):
    sign_in(client, editor_user.email)

    response = client.get(_page(name, mfa_workspace))

    assert response.status_code == 302
    assert response["Location"] == SETUP_URL


def test_htmx_requests_get_a_client_redirect(client, mfa_workspace, editor_user):
    sign_in(client, editor_user.email)

    response = client.get(_page("dashboard:members", mfa_workspace), HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert response["HX-Redirect"] == SETUP_URL
    assert b"Secret" not in response.content and response.content == b""


def test_a_post_is_refused_the_same_way_and_changes_nothing(client, mfa_workspace, admin_user):
    # The admin has no authenticator app either: they cannot switch the policy off to get in
    sign_in(client, admin_user.email)

    response = client.post(_page("dashboard:identity-mfa", mfa_workspace), {})

    assert response.status_code == 302 and response["Location"] == SETUP_URL
    assert Workspace.objects.get(pk=mfa_workspace.pk).mfa_required is True


def test_the_setup_page_says_why(client, mfa_workspace, viewer_user):
    sign_in(client, viewer_user.email)

    response = client.get(_page("monitoring:overview", mfa_workspace), follow=True)

    # allauth asks for the password again before any MFA change, then shows the setup form
    assert [url for url, _status in response.redirect_chain] == [
        SETUP_URL,
        f"{reverse('account_reauthenticate')}?next=%2Faccounts%2F2fa%2Ftotp%2Factivate%2F",
    ]
    assert b"Acme requires two-factor authentication" in response.content
    response = client.post(response.redirect_chain[-1][0], {"password": TEST_PASSWORD})
    assert response["Location"] == SETUP_URL
    assert b'name="code"' in client.get(SETUP_URL).content  # the authenticator app's form


def test_after_setting_up_an_authenticator_the_member_sees_the_pages(
    client, mfa_workspace, editor_user
):
    # Refused until set up …
    sign_in(client, editor_user.email)
    assert client.get(_page("monitoring:overview", mfa_workspace)).status_code == 302

    # … then (the same session) every page opens
    activate_totp(client, editor_user)
    for name in DASHBOARD_PAGES[:4] + DASHBOARD_PAGES[5:]:
        assert client.get(_page(name, mfa_workspace)).status_code == 200, name


def test_the_page_opens_again_when_the_policy_is_turned_off(
    client, mfa_workspace, admin_user, editor_user
):
    sign_in(client, editor_user.email)
    assert client.get(_page("monitoring:overview", mfa_workspace)).status_code == 302

    services.mfa_policy_set(workspace=mfa_workspace, actor=admin_user, required=False)

    assert client.get(_page("monitoring:overview", mfa_workspace)).status_code == 200


def test_an_sso_session_is_not_sent_to_set_up_mfa(client, mfa_workspace, editor_user):
    client.force_login(editor_user)
    session = client.session
    session[SIGN_IN_METHOD_KEY] = SIGN_IN_SSO
    session[SSO_WORKSPACE_KEY] = mfa_workspace.public_id
    session.save()

    assert client.get(_page("monitoring:overview", mfa_workspace)).status_code == 200


def test_an_sso_session_that_does_not_say_which_idp_is_held_to_the_policy(
    client, mfa_workspace, editor_user
):
    client.force_login(editor_user)
    session = client.session
    session[SIGN_IN_METHOD_KEY] = SIGN_IN_SSO
    session.save()

    assert client.get(_page("monitoring:overview", mfa_workspace)).status_code == 302


def test_an_sso_session_of_another_workspaces_idp_is_held_to_the_policy(
    client, mfa_workspace, other_workspace, editor_user
):
    client.force_login(editor_user)
    session = client.session
    session[SIGN_IN_METHOD_KEY] = SIGN_IN_SSO
    session[SSO_WORKSPACE_KEY] = other_workspace.public_id
    session.save()
    assert client.get(_page("monitoring:overview", mfa_workspace)).status_code == 302

    session[SSO_WORKSPACE_KEY] = mfa_workspace.public_id
    session.save()
    assert client.get(_page("monitoring:overview", mfa_workspace)).status_code == 200


def test_another_sign_in_method_in_the_session_is_not_sso(client, mfa_workspace, editor_user):
    client.force_login(editor_user)
    session = client.session
    session[SIGN_IN_METHOD_KEY] = "password"
    session.save()

    assert client.get(_page("monitoring:overview", mfa_workspace)).status_code == 302


def test_a_workspace_without_the_policy_is_not_affected(
    client, workspace, other_workspace, editor_user, system_actor
):
    # The editor is a member of two workspaces; only the other one requires MFA
    workspace_services.member_add(
        workspace=other_workspace, actor=system_actor, user=editor_user, role="viewer"
    )
    services.mfa_policy_set(workspace=other_workspace, actor=system_actor, required=True)
    sign_in(client, editor_user.email)

    assert client.get(_page("monitoring:overview", workspace)).status_code == 200
    assert client.get(_page("monitoring:overview", other_workspace)).status_code == 302


def test_the_api_is_not_affected(api_client, mfa_workspace, make_api_key):
    _key, token = make_api_key(mfa_workspace, role=ApiKeyRole.ADMIN)

    response = api_client.get("/v1/workspace", **bearer(token))

    assert response.status_code == 200


def test_the_staff_admin_keeps_its_own_rule(client, mfa_workspace, staff):
    sign_in(client, staff.email)

    assert client.get("/admin/").status_code == 200
    assert client.get(_page("monitoring:overview", mfa_workspace)).status_code == 302
