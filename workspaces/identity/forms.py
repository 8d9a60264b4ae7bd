"""Forms of Settings → Identity. They parse; the services (workspaces.sso, workspaces.scim,
identity.services) validate and decide, and their field errors come back onto these fields."""

import re

from django import forms

from workspaces.models import Role

MAX_METADATA_BYTES = 1024 * 1024
MAX_GROUP_ROWS = 200
ROLE_OR_REMOVE = [("", "— (remove)"), *Role.choices]


class MfaPolicyForm(forms.Form):
    required = forms.BooleanField(
        required=False,
        label="Require two-factor authentication for password sign-ins",
        help_text="Members who sign in with a password and have no authenticator app are sent "
        "to set one up before they see anything else of this workspace. SSO sign-ins are "
        "exempt: your identity provider enforces its own factors.",
    )


# --- SAML ----------------------------------------------------------------------------------------


class SamlMetadataForm(forms.Form):
    """The IdP from its metadata: pasted, uploaded, or fetched from its URL (one of them)."""

    idp_metadata = forms.CharField(
        required=False,
        label="Paste the IdP's metadata XML",
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        max_length=MAX_METADATA_BYTES,
    )
    idp_metadata_file = forms.FileField(required=False, label="or upload the metadata file")
    idp_metadata_url = forms.CharField(
        required=False,
        max_length=1024,
        label="or its metadata URL",
        help_text="Fetched once, now, through TrackLayer's egress policy (https only).",
    )

    def clean_idp_metadata_file(self):
        upload = self.cleaned_data.get("idp_metadata_file")
        if not upload:
            return ""
        if upload.size > MAX_METADATA_BYTES:
            raise forms.ValidationError("The file is larger than 1 MB.")
        try:
            return upload.read().decode("utf-8")
        except UnicodeDecodeError:
            raise forms.ValidationError("The file is not UTF-8 text (XML).") from None

    def clean(self):
        data = super().clean()
        given = [
            name
            for name in ("idp_metadata", "idp_metadata_file", "idp_metadata_url")
            if (data.get(name) or "").strip()
        ]
        if not self.errors and len(given) != 1:
            raise forms.ValidationError(
                "Paste the metadata, upload its file or give its URL — exactly one of them."
            )
        self.source = given[0] if given else None
        return data

    def configure_kwargs(self) -> dict:
        """What ``saml_configure`` takes from this form."""
        if self.source == "idp_metadata_url":
            return {"idp_metadata_url": self.cleaned_data["idp_metadata_url"].strip()}
        return {"idp_metadata": self.cleaned_data[self.source]}

    def error_field(self, field: str | None) -> str | None:
        """Where a service error about the metadata shows: on the input that was used."""
        return self.source if field == "idp_metadata" else field


class SamlFieldsForm(forms.Form):
    """The IdP from its values (they win over what metadata set), and how assertions read."""

    idp_entity_id = forms.CharField(max_length=1024, label="IdP entity id (issuer)")
    idp_sso_url = forms.CharField(max_length=1024, label="IdP sign-on URL (HTTP-Redirect)")
    idp_slo_url = forms.CharField(max_length=1024, required=False, label="IdP logout URL")
    idp_certificate = forms.CharField(
        label="IdP signing certificate (PEM)",
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        max_length=20_000,
    )
    idp_certificate_next = forms.CharField(
        required=False,
        label="Second certificate, during a rollover (PEM)",
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        max_length=20_000,
    )
    email_attribute = forms.CharField(
        required=False,
        max_length=256,
        label="E-mail attribute",
        help_text="Read when the NameID's format is not emailAddress.",
    )
    groups_attribute = forms.CharField(
        max_length=256,
        label="Groups attribute",
        help_text="Okta: groups. Entra ID: "
        "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
    )
    jit = forms.BooleanField(
        required=False, label="Create members at their first sign-in (just in time)"
    )
    allow_sha1 = forms.BooleanField(required=False, label="Accept SHA-1 signatures (deprecated)")
    idp_initiated = forms.BooleanField(
        required=False, label="Accept IdP-initiated sign-in (if the server allows it)"
    )


def _domain_list(value: str) -> list[str]:
    return [part for part in re.split(r"[\s,;]+", value or "") if part]


class ManagedDomainsForm(forms.Form):
    domains = forms.CharField(
        required=False,
        label="Managed domains",
        help_text="One per line (or separated by commas), like example.com.",
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        max_length=20_000,
    )
    enforce = forms.BooleanField(
        required=False,
        label="Enforce SSO for these domains",
        help_text="People with an address in a managed domain then sign in only through SSO; "
        "password sign-in and password reset are refused, except for the break-glass account.",
    )

    def domain_list(self) -> list[str]:
        return _domain_list(self.cleaned_data["domains"])


class BreakGlassForm(forms.Form):
    break_glass_user = forms.ChoiceField(
        required=False,
        label="Break-glass account",
        help_text="An admin with MFA who may keep signing in with a password while SSO is "
        "enforced, for when the identity provider is down. Each use is audited.",
    )

    def __init__(self, *args, admins=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["break_glass_user"].choices = [("", "— none —")] + [
            (m.user.public_id, f"{m.user.display_name} ({m.user.email})") for m in admins
        ]


class GroupRolesForm(forms.Form):
    """The IdP group → role table (SAML and SCIM share it) and SAML's default role. Rows are
    ``group_<n>`` / ``role_<n>``; an empty group or role drops the row."""

    default_role = forms.ChoiceField(
        choices=Role.choices,
        label="Role when no group is mapped",
        help_text="Given at SSO sign-in to a person none of whose groups is mapped.",
    )

    def __init__(self, *args, rows: int = 3, **kwargs):
        super().__init__(*args, **kwargs)
        if self.is_bound:
            posted = [k for k in self.data if re.fullmatch(r"group_\d{1,3}", k)]
            rows = max((int(k.split("_")[1]) + 1 for k in posted), default=0)
        self.rows = min(rows, MAX_GROUP_ROWS)
        for n in range(self.rows):
            # In a table without labels of their own: named for screen readers
            self.fields[f"group_{n}"] = forms.CharField(
                required=False,
                max_length=256,
                label=f"IdP group {n + 1}",
                widget=forms.TextInput(attrs={"aria-label": f"IdP group {n + 1}"}),
            )
            self.fields[f"role_{n}"] = forms.ChoiceField(
                required=False,
                choices=ROLE_OR_REMOVE,
                label=f"Role of group {n + 1}",
                widget=forms.Select(attrs={"aria-label": f"Role of group {n + 1}"}),
            )

    def row_fields(self):
        return [(self[f"group_{n}"], self[f"role_{n}"]) for n in range(self.rows)]

    def clean(self):
        data = super().clean()
        seen: set[str] = set()
        for n in range(self.rows):
            group = (data.get(f"group_{n}") or "").strip()
            if group and group in seen:
                self.add_error(f"group_{n}", "This group is listed twice.")
            seen.add(group)
        return data

    def mapping(self) -> dict[str, str]:
        pairs = (
            (self.cleaned_data[f"group_{n}"].strip(), self.cleaned_data[f"role_{n}"])
            for n in range(self.rows)
        )
        return {group: role for group, role in pairs if group and role}


# --- SCIM ----------------------------------------------------------------------------------------


class ScimTokenCreateForm(forms.Form):
    name = forms.CharField(
        required=False,
        max_length=100,
        label="Token name",
        help_text="Which identity provider uses it, e.g. “Okta”.",
    )


class ScimSettingsForm(forms.Form):
    default_role = forms.ChoiceField(
        choices=Role.choices,
        label="Role of a provisioned person",
        help_text="When none of their SCIM groups is mapped to a role.",
    )
