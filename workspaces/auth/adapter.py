"""allauth's account adapter: the sign-in events it reports become audit entries, and SSO
enforcement refuses passwords (sign-in here, reset in ``forms.ResetPasswordForm``) for managed
domains (docs/identity.md)."""

from allauth.account.adapter import DefaultAccountAdapter
from allauth.mfa.utils import is_mfa_enabled
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html

from workspaces import services
from workspaces.models import Membership, Role, User
from workspaces.sso import selectors as sso_selectors
from workspaces.sso import services as sso_services


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        # People join through invitations (or SCIM, later); there is no public sign-up.
        return False

    def pre_authenticate(self, request, **credentials) -> None:
        super().pre_authenticate(request, **credentials)
        try:
            refuse_password_if_enforced(credentials.get("email") or "", what="sign-in")
        except ValidationError:
            services.auth_sign_in_failed(
                email=credentials.get("email") or "", reason="sso_required"
            )
            raise

    def post_login(self, request, user, **kwargs):
        response = super().post_login(request, user, **kwargs)
        # Never refused: under a workspace's advisory lock the entry waits, stored, until the
        # lock lifts (docs/adr/0009), so the sign-in answers exactly as it does without one.
        services.auth_sign_in_succeeded(user=user, method=_method(user))
        config = sso_selectors.enforcement_for_email(user.email)
        if config is not None and _is_break_glass(config, user):
            sso_services.break_glass_used(workspace=config.workspace, user=user)
        return response

    def authentication_failed(self, request, **credentials) -> None:
        super().authentication_failed(request, **credentials)
        services.auth_sign_in_failed(email=credentials.get("email") or "", reason="bad_credentials")


def refuse_password_if_enforced(email: str, *, what: str) -> None:
    """Refuse a password sign-in or reset for an address whose domain a workspace manages with
    SSO enforced — except its break-glass admin's, when that account has MFA."""
    config = sso_selectors.enforcement_for_email(email)
    if config is None:
        return
    user = User.objects.filter(email__iexact=email.strip()).first()
    if user is not None and _is_break_glass(config, user):
        return
    url = reverse("sso:login", args=[config.workspace.slug])
    doing = "sign in with a password" if what == "sign-in" else "reset a password"
    raise ValidationError(
        format_html(
            "{} requires single sign-on for this address, so you cannot {} here. "
            '<a href="{}">Sign in with single sign-on</a> ({}).',
            config.workspace.name,
            doing,
            url,
            url,
        ),
        code="sso_required",
    )


def _is_break_glass(config, user) -> bool:
    """Whether ``user`` is the break-glass account that SSO enforcement (``config``) still lets
    use a password: the one named, with MFA, and an admin of the workspace still."""
    return (
        config.break_glass_user_id == user.pk
        and is_mfa_enabled(user)
        and Membership.objects.filter(
            workspace=config.workspace, user=user, role=Role.ADMIN
        ).exists()
    )


def _method(user) -> str:
    return "password+mfa" if is_mfa_enabled(user) else "password"
