from django import forms


class PublicVerificationForm(forms.Form):
    """Turn public verification on or off (the settings page's one button)."""

    enabled = forms.TypedChoiceField(
        choices=[("on", "On"), ("off", "Off")], coerce=lambda value: value == "on"
    )


class EntryHashForm(forms.Form):
    """The public page's form: an entry hash to prove."""

    hash = forms.RegexField(
        label="Entry hash",
        regex=r"^[0-9a-fA-F]{64}$",
        max_length=64,
        strip=True,
        error_messages={"invalid": "An entry hash is 64 hexadecimal digits."},
        help_text="The entry's hash (64 hex digits), from an audit export, a receipt or the "
        "audit log page.",
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "spellcheck": "false", "inputmode": "text"}
        ),
    )
