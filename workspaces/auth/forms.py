"""allauth's forms where TrackLayer's differ (``ACCOUNT_FORMS``)."""

from allauth.account import forms

from workspaces.auth.adapter import refuse_password_if_enforced


class ResetPasswordForm(forms.ResetPasswordForm):
    """No password reset for an address SSO enforcement covers (its break-glass admin's
    aside), as for a password sign-in (docs/identity.md)."""

    def clean_email(self) -> str:
        refuse_password_if_enforced(self.cleaned_data["email"], what="reset")
        return super().clean_email()
