"""allauth's account adapter: the sign-in events it reports become audit entries."""

from allauth.account.adapter import DefaultAccountAdapter
from django.contrib import messages
from django.shortcuts import redirect

from audit.exceptions import AuditLockedError
from workspaces import services


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        # People join through invitations (or SCIM, later); there is no public sign-up.
        return False

    def post_login(self, request, user, **kwargs):
        response = super().post_login(request, user, **kwargs)
        try:
            services.auth_sign_in_succeeded(user=user, method=_method(user))
        except AuditLockedError as error:
            # A sign-in that cannot be recorded does not happen (the advisory lock fails
            # closed); the person is told why instead of seeing an error page.
            self.logout(request)
            messages.error(request, f"Sign-in refused: {error.message}")
            return redirect("account_login")
        return response

    def authentication_failed(self, request, **credentials) -> None:
        super().authentication_failed(request, **credentials)
        services.auth_sign_in_failed(email=credentials.get("email") or "", reason="bad_credentials")


def _method(user) -> str:
    from allauth.mfa.utils import is_mfa_enabled

    return "password+mfa" if is_mfa_enabled(user) else "password"
