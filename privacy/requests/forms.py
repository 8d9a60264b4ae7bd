"""The Privacy → Requests form: a request type and one subject, or many as "kind:value" lines.

The form only shapes the body; ``services.dsr_create`` checks it and names the refused field,
which ``field_for`` maps back onto the form."""

from django import forms

from privacy.models import RequestType
from privacy.requests.matching import KINDS
from privacy.requests.services import MAX_SUBJECTS

IDENTIFIERS = {
    "user_id": "User id",
    "anonymous_id": "Anonymous id",
    "email": "E-mail",
    "phone": "Phone",
}


class RequestCreateForm(forms.Form):
    type = forms.ChoiceField(label="Type", choices=RequestType.choices)
    user_id = forms.CharField(label="User id", required=False, max_length=200)
    anonymous_id = forms.CharField(label="Anonymous id", required=False, max_length=200)
    email = forms.CharField(label="E-mail", required=False, max_length=320)
    phone = forms.CharField(label="Phone", required=False, max_length=64)
    default_region = forms.CharField(
        label="Default region",
        required=False,
        max_length=2,
        help_text="A country as two letters (ISO 3166-1), e.g. DE: reads phone numbers written "
        "without a country code. Without it such a number is refused.",
    )
    subjects = forms.CharField(
        label="Or many subjects, one per line",
        required=False,
        widget=forms.Textarea(attrs={"rows": 5, "placeholder": "email:ada@example.com"}),
        help_text=f"“kind:value” per line (kinds: {', '.join(KINDS)}); at most "
        f"{MAX_SUBJECTS:,} lines.",
    )

    def clean_subjects(self) -> list[dict] | None:
        text = self.cleaned_data.get("subjects") or ""
        lines = [line.strip() for line in text.splitlines()]
        lines = [line for line in lines if line]
        if not lines:
            return None
        if len(lines) > MAX_SUBJECTS:
            raise forms.ValidationError(f"At most {MAX_SUBJECTS:,} lines.")
        subjects = []
        for number, line in enumerate(lines, start=1):
            kind, sep, value = line.partition(":")
            kind, value = kind.strip(), value.strip()
            if not sep or kind not in KINDS or not value:
                raise forms.ValidationError(
                    f"Line {number}: write it as “kind:value” with a kind of {', '.join(KINDS)}."
                )
            subjects.append({kind: value})
        return subjects

    def body(self) -> dict:
        """The service's arguments: ``type``, ``subject`` or ``subjects``, ``default_region``."""
        data = self.cleaned_data
        subject = {kind: data[kind] for kind in IDENTIFIERS if data.get(kind)}
        subjects = data.get("subjects")
        region = {"default_region": data.get("default_region") or None}
        if subjects is not None and not subject:
            return {"type": data["type"], "subjects": subjects, **region}
        # Both given: the service refuses it on ``subjects``.
        return {"type": data["type"], "subject": subject, "subjects": subjects, **region}

    def service_error(self, field: str | None, message: str) -> None:
        """Put the service's refusal on the form field it names (``subject.email`` → email,
        ``subjects[3].phone`` → subjects, line 4)."""
        if field and field.startswith("subjects["):
            index = field[len("subjects[") :].split("]", 1)[0]
            line = int(index) + 1 if index.isdigit() else None
            self.add_error("subjects", f"Line {line}: {message}" if line else message)
        elif field and field.startswith("subject."):
            kind = field.split(".", 1)[1]
            self.add_error(kind if kind in IDENTIFIERS else None, message)
        elif field == "subject":
            self.add_error(None, "Give at least one identifier. " + message)
        elif field in self.fields:
            self.add_error(field, message)
        else:
            self.add_error(None, message)
