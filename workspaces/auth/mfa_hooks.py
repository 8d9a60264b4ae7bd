"""allauth.mfa reports authenticator changes only through signals; they are received here and
nowhere else, and turned into service calls (so the audit entry is written in the request's
transaction, beside the authenticator row — see docs/adr/0005)."""

from allauth.mfa import signals as mfa_signals

from workspaces import services

# Recovery codes are generated along with TOTP; TOTP (or WebAuthn) is what turns MFA on or off.
_FACTORS = {"totp", "webauthn"}


def _added(sender, request, user, authenticator, **kwargs) -> None:
    if authenticator.type in _FACTORS:
        services.auth_mfa_changed(user=user, enabled=True, authenticator_type=authenticator.type)


def _removed(sender, request, user, authenticator, **kwargs) -> None:
    if authenticator.type in _FACTORS:
        services.auth_mfa_changed(user=user, enabled=False, authenticator_type=authenticator.type)


def _failed(sender, request, user, **kwargs) -> None:
    services.auth_sign_in_failed(user=user, reason="bad_mfa_code")


def connect() -> None:
    mfa_signals.authenticator_added.connect(_added, dispatch_uid="tracklayer.mfa_added")
    mfa_signals.authenticator_removed.connect(_removed, dispatch_uid="tracklayer.mfa_removed")
    mfa_signals.authentication_failed.connect(_failed, dispatch_uid="tracklayer.mfa_failed")
