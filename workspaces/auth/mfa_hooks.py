"""MFA changes made through allauth's views, written to the audit log in the same transaction.

allauth announces TOTP activation only *after* its transaction commits, so a receiver of its
signal would write the audit entry separately — an entry that could fail while the change
stands. Instead, its two views are wrapped: the request is one transaction (ATOMIC_REQUESTS),
the wrapper compares the user's TOTP state before and after allauth's view, and records the
change inside that transaction. A failed MFA code changes nothing, so allauth's (synchronous)
``authentication_failed`` signal is enough for that one.
"""

from allauth.mfa import signals as mfa_signals
from allauth.mfa.models import Authenticator
from allauth.mfa.totp import views as totp_views

from workspaces import services


def _has_totp(user) -> bool:
    return (
        user.is_authenticated
        and Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
    )


def _audited(view):
    def wrapped(request, *args, **kwargs):
        before = _has_totp(request.user)
        response = view(request, *args, **kwargs)
        after = _has_totp(request.user)
        if before != after:
            services.auth_mfa_changed(user=request.user, enabled=after, authenticator_type="totp")
        return response

    return wrapped


activate_totp = _audited(totp_views.activate_totp)
deactivate_totp = _audited(totp_views.deactivate_totp)


def _failed(sender, request, user, **kwargs) -> None:
    services.auth_sign_in_failed(user=user, reason="bad_mfa_code")


def connect() -> None:
    mfa_signals.authentication_failed.connect(_failed, dispatch_uid="tracklayer.mfa_failed")
