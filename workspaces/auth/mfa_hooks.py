"""MFA changes made through allauth's views, written to the audit log in the same transaction.

allauth announces TOTP activation and recovery-code regeneration only *after* its transaction
commits, so a receiver of its signals would write the audit entry separately — an entry that
could fail while the change stands. Instead, the views that change authenticators are
wrapped: the request is one transaction (ATOMIC_REQUESTS), the wrapper compares the user's
authenticators before and after allauth's view, and records the change inside that
transaction. A failed MFA code changes nothing, so allauth's (synchronous)
``authentication_failed`` signal is enough for that one.

These views are the only way to change an authenticator: the Django admin shows them
read-only (workspaces/admin.py), and the secrets are sealed (workspaces/auth/mfa_adapter.py).
"""

from allauth.mfa import signals as mfa_signals
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes import views as recovery_codes_views
from allauth.mfa.totp import views as totp_views

from workspaces import services


def _authenticators(user) -> dict[str, int]:
    """The user's authenticators, type → id (allauth keeps one of each type we support)."""
    if not user.is_authenticated:
        return {}
    return dict(Authenticator.objects.filter(user=user).values_list("type", "pk"))


def _audited(view):
    def wrapped(request, *args, **kwargs):
        before = _authenticators(request.user)
        response = view(request, *args, **kwargs)
        after = _authenticators(request.user)
        totp = Authenticator.Type.TOTP
        codes = Authenticator.Type.RECOVERY_CODES
        if (totp in before) != (totp in after):
            # Recovery codes come and go with the authenticator app: one entry says it all.
            services.auth_mfa_changed(
                user=request.user, enabled=totp in after, authenticator_type="totp"
            )
        elif codes in before and codes in after and before[codes] != after[codes]:
            # Regenerating replaces the recovery-codes authenticator (the old codes stop working).
            services.auth_mfa_recovery_codes_regenerated(user=request.user)
        return response

    return wrapped


activate_totp = _audited(totp_views.activate_totp)
deactivate_totp = _audited(totp_views.deactivate_totp)
generate_recovery_codes = _audited(recovery_codes_views.generate_recovery_codes)


def _failed(sender, request, user, **kwargs) -> None:
    services.auth_sign_in_failed(user=user, reason="bad_mfa_code")


def connect() -> None:
    mfa_signals.authentication_failed.connect(_failed, dispatch_uid="tracklayer.mfa_failed")
