"""Forms of Settings → Identity. They parse; the services validate and decide."""

from django import forms


class MfaPolicyForm(forms.Form):
    required = forms.BooleanField(
        required=False,
        label="Require two-factor authentication for password sign-ins",
        help_text="Members who sign in with a password and have no authenticator app are sent "
        "to set one up before they see anything else of this workspace. SSO sign-ins are "
        "exempt: your identity provider enforces its own factors.",
    )
