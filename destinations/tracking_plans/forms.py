"""Settings → Tracking plan's forms: they parse what the page posts (JSON text, an upload) into
what the services take; the services check the plan itself."""

import json

from django import forms

from destinations.tracking_plans.schema import IDENTIFY
from destinations.tracking_plans.services import MAX_NAME_LENGTH, MAX_PLAN_BYTES

MODE_CHOICES = [
    ("allow", "Allow — accept every event, count its violations"),
    ("flag", "Flag — accept, mark violating events “flagged”"),
    ("block", "Block — reject violating events"),
]
UNPLANNED_CHOICES = [
    ("allow", "Allow — accept, unchecked and uncounted"),
    ("flag", "Flag — accept, mark “flagged” and count"),
    ("block", "Block — reject"),
]
NEW_SCHEMA = '{\n  "type": "object",\n  "properties": {},\n  "required": []\n}'
MAX_DOCUMENT_BYTES = 1024 * 1024


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def parse_json(text: str):
    """JSON text to a value, with an error that says where it went wrong."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        raise forms.ValidationError(
            f"Not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})."
        ) from error
    except ValueError as error:
        raise forms.ValidationError(f"Not valid JSON: {error}.") from error


def pretty_json(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


class VersionedForm(forms.Form):
    """Every change names the plan version it was made on: a plan changed meanwhile by
    someone else is refused (409) instead of silently overwritten."""

    version = forms.IntegerField(min_value=0, widget=forms.HiddenInput)


class PlanModeForm(VersionedForm):
    mode = forms.ChoiceField(
        label="Events that break their schema",
        choices=MODE_CHOICES,
        help_text="Violations are counted below in every mode.",
    )
    unplanned = forms.ChoiceField(
        label="Track events whose name is not in the plan", choices=UNPLANNED_CHOICES
    )


class EventSchemaForm(VersionedForm):
    event_name = forms.CharField(
        label="Event name",
        max_length=MAX_NAME_LENGTH,
        strip=False,
        help_text=f"The track event's name, or {IDENTIFY} for identify traits.",
    )
    schema = forms.CharField(
        label="JSON Schema",
        max_length=MAX_PLAN_BYTES,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false", "class": "code"}),
        help_text="Draft 2020-12, validating the event's properties (traits for $identify).",
    )
    previous_name = forms.CharField(required=False, strip=False, widget=forms.HiddenInput)

    def clean_schema(self):
        return parse_json(self.cleaned_data["schema"])


class EventRemoveForm(VersionedForm):
    event_name = forms.CharField(max_length=MAX_NAME_LENGTH, strip=False, widget=forms.HiddenInput)


class PlanImportForm(VersionedForm):
    document = forms.CharField(
        label="Paste the plan JSON",
        required=False,
        strip=False,
        max_length=MAX_DOCUMENT_BYTES,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false", "class": "code"}),
        help_text='{"mode": "flag", "unplanned": "allow", "events": {"Order Completed": {…}}} '
        "— the format “Export JSON” writes. It replaces every event of the plan.",
    )
    file = forms.FileField(label="…or upload a .json file", required=False)

    def clean(self):
        data = super().clean()
        upload, text = data.get("file"), data.get("document") or ""
        if upload and text.strip():
            raise forms.ValidationError("Paste the JSON or upload a file, not both.")
        if upload:
            if upload.size > MAX_DOCUMENT_BYTES:
                self.add_error("file", "The file is larger than 1 MiB.")
                return data
            try:
                text = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                self.add_error("file", "The file is not UTF-8 text.")
                return data
            field = "file"
        elif text.strip():
            field = "document"
        else:
            raise forms.ValidationError("Paste the plan JSON or choose a file.")
        try:
            data["parsed"] = parse_json(text)
        except forms.ValidationError as error:
            self.add_error(field, error)
        return data
