import datetime as dt

from django import forms
from django.contrib.auth.password_validation import validate_password

from workspaces.models import ApiKeyEnvironment, ApiKeyRole, Region, Role

EXPIRY_CHOICES = [("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("never", "Never")]
GRACE_CHOICES = [
    ("0", "Stop the old key now"),
    ("3600", "1 hour"),
    ("86400", "24 hours"),
    ("604800", "7 days"),
]


class WorkspaceCreateForm(forms.Form):
    name = forms.CharField(max_length=100)
    region = forms.ChoiceField(
        choices=Region.choices,
        label="Data region",
        help_text="Where this workspace's events, deliveries and the rest of its event data are "
        "stored. It cannot be changed afterwards.",
    )


class WorkspaceSettingsForm(forms.Form):
    name = forms.CharField(max_length=100)
    # Not shown: the region is pinned. A post that names one is handed to the service, which
    # refuses any but the workspace's own (``region_pinned``) rather than ignoring it.
    region = forms.CharField(required=False, max_length=100)


class WorkspaceDeleteForm(forms.Form):
    """The danger zone: the slug typed out; the service compares it (``confirm_slug``)."""

    confirm_slug = forms.CharField(
        max_length=100,
        label="Type the workspace's slug to confirm",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )


class InviteForm(forms.Form):
    email = forms.EmailField()
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="Where it is used, e.g. “Shopify storefront”.")
    role = forms.ChoiceField(choices=ApiKeyRole.choices, initial=ApiKeyRole.WRITE)
    environment = forms.ChoiceField(choices=ApiKeyEnvironment.choices)
    expires_in = forms.ChoiceField(choices=EXPIRY_CHOICES, initial="90", label="Expires in")

    def expires_at(self, now: dt.datetime) -> dt.datetime | None:
        value = self.cleaned_data["expires_in"]
        return None if value == "never" else now + dt.timedelta(days=int(value))


class ApiKeyRotateForm(forms.Form):
    grace = forms.ChoiceField(choices=GRACE_CHOICES, initial="86400", label="Old key keeps working")

    @property
    def grace_period(self) -> dt.timedelta:
        return dt.timedelta(seconds=int(self.cleaned_data["grace"]))


class AcceptNewAccountForm(forms.Form):
    name = forms.CharField(max_length=150, required=False)
    password = forms.CharField(widget=forms.PasswordInput, strip=False)

    def __init__(self, *args, email: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.email = email

    def clean_password(self):
        password = self.cleaned_data["password"]
        validate_password(password)
        return password
