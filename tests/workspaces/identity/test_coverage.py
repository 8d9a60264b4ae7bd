"""MFA and SSO coverage, "n of m" members, on the overview and on Settings → Identity."""

import pytest
from allauth.mfa.models import Authenticator
from django.urls import reverse

from tests.workspaces.helpers import activate_totp, sign_in
from workspaces import services as workspace_services
from workspaces.identity import selectors, services

pytestmark = pytest.mark.django_db


def _signed_in(user, method: str) -> None:
    """What each sign-in writes to the user's workspaces (allauth's adapter; SAML's
    assertion consumer with ``saml``)."""
    workspace_services.auth_sign_in_succeeded(user=user, method=method)


def test_members_with_an_authenticator_app_are_counted(
    client, workspace, admin_user, editor_user, viewer_user
):
    assert selectors.identity_coverage(workspace=workspace).with_mfa == 0

    activate_totp(client, editor_user)

    coverage = selectors.identity_coverage(workspace=workspace)
    assert (coverage.with_mfa, coverage.members) == (1, 3)
    # Recovery codes come with the app; they are not a second person
    assert Authenticator.objects.filter(user=editor_user).count() == 2


def test_an_authenticator_of_someone_outside_the_workspace_is_not_counted(
    client, workspace, other_admin_user, admin_user
):
    activate_totp(client, other_admin_user)

    assert selectors.identity_coverage(workspace=workspace).with_mfa == 0


def test_sso_coverage_counts_members_whose_last_sign_in_was_saml(
    workspace, admin_user, editor_user, viewer_user, other_admin_user
):
    _signed_in(editor_user, "saml")
    _signed_in(viewer_user, "saml")
    _signed_in(viewer_user, "password")  # the last one counts: no longer through SSO
    _signed_in(admin_user, "password")
    _signed_in(admin_user, "saml")
    _signed_in(other_admin_user, "saml")  # another workspace's member

    coverage = selectors.identity_coverage(workspace=workspace)

    assert (coverage.via_sso, coverage.members) == (2, 3)


def test_a_former_member_is_not_counted(workspace, admin_user, editor_user):
    _signed_in(editor_user, "saml")
    workspace_services.membership_remove(
        workspace=workspace,
        actor=admin_user,
        membership=workspace.memberships.get(user=editor_user),
    )

    coverage = selectors.identity_coverage(workspace=workspace)

    assert (coverage.via_sso, coverage.members) == (0, 1)


def test_the_overview_shows_coverage_and_the_policy_state(
    client, workspace, admin_user, editor_user, viewer_user
):
    activate_totp(client, admin_user)
    _signed_in(viewer_user, "saml")
    services.mfa_policy_set(workspace=workspace, actor=admin_user, required=True)

    response = client.get(reverse("monitoring:overview", kwargs={"slug": workspace.slug}))

    body = response.content.decode()
    assert response.status_code == 200
    assert "1 of 3</strong>" in body.split('data-testid="coverage-mfa"')[1].split("</a>")[0]
    assert "members with MFA · required" in body
    assert "1 of 3</strong>" in body.split('data-testid="coverage-sso"')[1].split("</a>")[0]
    assert "last signed in through SSO · off" in body
    assert "0 of 3</strong>" in body.split('data-testid="coverage-scim"')[1].split("</a>")[0]
    assert reverse("dashboard:identity", kwargs={"slug": workspace.slug}) in body


def test_members_who_may_not_manage_identity_see_coverage_without_the_link(
    client, workspace, viewer_user
):
    sign_in(client, viewer_user.email)

    response = client.get(reverse("monitoring:overview", kwargs={"slug": workspace.slug}))

    body = response.content.decode()
    assert 'data-testid="coverage-mfa"' in body and "members with MFA · not required" in body
    assert reverse("dashboard:identity", kwargs={"slug": workspace.slug}) not in body
