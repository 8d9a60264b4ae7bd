"""allauth's account adapter: the sign-in events it reports become audit entries."""

from allauth.account.adapter import DefaultAccountAdapter
from allauth.mfa.utils import is_mfa_enabled

from workspaces import services


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        # People join through invitations (or SCIM, later); there is no public sign-up.
        return False

    def post_login(self, request, user, **kwargs):
        response = super().post_login(request, user, **kwargs)
        # Never refused: under a workspace's advisory lock the entry waits, stored, until the
        # lock lifts (docs/adr/0009), so the sign-in answers exactly as it does without one.
        services.auth_sign_in_succeeded(user=user, method=_method(user))
        return response

    def authentication_failed(self, request, **credentials) -> None:
        super().authentication_failed(request, **credentials)
        services.auth_sign_in_failed(email=credentials.get("email") or "", reason="bad_credentials")


def _method(user) -> str:
    return "password+mfa" if is_mfa_enabled(user) else "password"
