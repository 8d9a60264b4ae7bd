"""Enforcement: addresses in a managed domain sign in only through SSO; the break-glass admin
(with MFA) keeps a password, and each use of it is audited."""

import pytest
from django.core import mail
from django.urls import reverse

from tests.audit_entries import audit_entries
from tests.factories import FACTORY_ACTOR, MembershipFactory, UserFactory
from tests.workspaces.helpers import activate_totp, sign_in, totp_now
from tests.workspaces.sso.conftest import DOMAIN
from tracklayer.exceptions import DomainError
from workspaces.models import Role
from workspaces.sso import services


@pytest.fixture
def managed_user(sso_workspace):
    return MembershipFactory(
        workspace=sso_workspace, role=Role.EDITOR, user__email=f"lee@{DOMAIN}"
    ).user


def enforce(workspace, on=True):
    services.managed_domains_set(
        workspace=workspace, actor=FACTORY_ACTOR, domains=[DOMAIN], enforce=on
    )


def test_without_enforcement_the_password_still_works(client, managed_user):
    response = sign_in(client, managed_user.email)
    assert response.status_code == 302
    assert "_auth_user_id" in client.session


def test_enforced_password_sign_in_is_refused_with_the_sso_link(
    client, sso_workspace, managed_user
):
    enforce(sso_workspace)
    response = sign_in(client, managed_user.email)
    body = response.content.decode()
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert "requires single sign-on" in body
    assert f'href="/sso/saml/{sso_workspace.slug}/login/"' in body
    failed = audit_entries(sso_workspace, "auth.sign_in_failed")[-1]
    assert failed["payload"] == {"reason": "sso_required"}
    # Another domain's people are not concerned.
    other = MembershipFactory(workspace=sso_workspace, role=Role.VIEWER).user
    assert sign_in(client, other.email).status_code == 302


def test_enforcement_is_case_insensitive(client, sso_workspace, managed_user):
    enforce(sso_workspace)
    sign_in(client, managed_user.email.upper())
    assert "_auth_user_id" not in client.session


def test_enforced_password_reset_is_refused(client, sso_workspace, managed_user):
    enforce(sso_workspace)
    response = client.post(reverse("account_reset_password"), {"email": managed_user.email})
    assert response.status_code == 200
    assert "requires single sign-on" in response.content.decode()
    assert mail.outbox == []
    # Reset still works for others, and once enforcement is off.
    enforce(sso_workspace, on=False)
    response = client.post(reverse("account_reset_password"), {"email": managed_user.email})
    assert response.status_code == 302
    assert len(mail.outbox) == 1


def test_break_glass_admin_with_mfa_keeps_the_password_and_is_audited(client, sso_workspace):
    admin = MembershipFactory(
        workspace=sso_workspace, role=Role.ADMIN, user__email=f"root@{DOMAIN}"
    ).user
    secret = activate_totp(client, admin)
    client.logout()
    services.saml_configure(
        workspace=sso_workspace, actor=FACTORY_ACTOR, break_glass_user=admin.public_id
    )
    enforce(sso_workspace)

    response = sign_in(client, admin.email)
    assert response["Location"] == reverse("mfa_authenticate")
    assert audit_entries(sso_workspace, "auth.break_glass_used") == []
    response = client.post(reverse("mfa_authenticate"), {"code": totp_now(secret)})
    assert response.status_code == 302
    [used] = audit_entries(sso_workspace, "auth.break_glass_used")
    assert used["actor"] == f"user:{admin.public_id}"


def test_break_glass_must_be_an_admin_with_mfa(sso_workspace, managed_user):
    with pytest.raises(DomainError) as error:
        services.saml_configure(
            workspace=sso_workspace, actor=FACTORY_ACTOR, break_glass_user=managed_user
        )
    assert error.value.field == "break_glass_user"
    admin = MembershipFactory(
        workspace=sso_workspace, role=Role.ADMIN, user__email=f"root@{DOMAIN}"
    ).user
    with pytest.raises(DomainError, match="MFA"):
        services.saml_configure(
            workspace=sso_workspace, actor=FACTORY_ACTOR, break_glass_user=admin
        )


def test_break_glass_without_mfa_is_refused_at_sign_in(client, sso_workspace):
    admin = MembershipFactory(
        workspace=sso_workspace, role=Role.ADMIN, user__email=f"root@{DOMAIN}"
    ).user
    secret = activate_totp(client, admin)
    client.logout()
    services.saml_configure(workspace=sso_workspace, actor=FACTORY_ACTOR, break_glass_user=admin)
    enforce(sso_workspace)
    from allauth.mfa.models import Authenticator

    Authenticator.objects.filter(user=admin).delete()  # MFA removed afterwards
    sign_in(client, admin.email)
    assert "_auth_user_id" not in client.session
    assert secret


def test_enforcement_needs_sso_and_a_domain(workspace, other_workspace):
    with pytest.raises(DomainError) as error:
        services.managed_domains_set(
            workspace=workspace, actor=FACTORY_ACTOR, domains=["x.example"], enforce=True
        )
    assert error.value.field == "enforce"
    UserFactory()  # nothing else changed


def test_a_break_glass_account_no_longer_admin_loses_the_password(client, sso_workspace):
    membership = MembershipFactory(
        workspace=sso_workspace, role=Role.ADMIN, user__email=f"root@{DOMAIN}"
    )
    activate_totp(client, membership.user)
    client.logout()
    services.saml_configure(
        workspace=sso_workspace, actor=FACTORY_ACTOR, break_glass_user=membership.user
    )
    enforce(sso_workspace)
    membership.role = Role.VIEWER
    membership.save(update_fields=["role"])
    response = sign_in(client, membership.user.email)
    assert "requires single sign-on" in response.content.decode()
