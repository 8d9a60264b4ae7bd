"""The incident pages' forms: they parse; the services validate again and decide."""

from django import forms

from monitoring.incidents.exceptions import IncidentInvalidError
from monitoring.incidents.models import Severity
from monitoring.incidents.services import NOTE_MAX, POSTMORTEM_MAX, TITLE_MAX
from tracklayer.exceptions import DomainError


class ServiceErrors:
    def add_service_errors(self, error: DomainError) -> None:
        """Each refused field on its field (or above the form)."""
        errors = (
            error.errors
            if isinstance(error, IncidentInvalidError)
            else {error.field: error.message}
        )
        for field, message in errors.items():
            self.add_error(field if field in self.fields else None, message)


class IncidentOpenForm(ServiceErrors, forms.Form):
    title = forms.CharField(label="Title", max_length=TITLE_MAX)
    severity = forms.ChoiceField(label="Severity", choices=Severity.choices, initial=Severity.HIGH)
    destination = forms.ChoiceField(
        label="Destination concerned", required=False, help_text="Optional."
    )
    note = forms.CharField(
        label="What is happening",
        required=False,
        max_length=NOTE_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args, destinations=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["destination"].choices = [("", "—")] + [
            (d.public_id, d.name) for d in destinations
        ]


class PhaseForm(ServiceErrors, forms.Form):
    phase = forms.CharField(widget=forms.HiddenInput, max_length=16)
    note = forms.CharField(
        label="Why", required=False, max_length=NOTE_MAX, widget=forms.Textarea(attrs={"rows": 2})
    )


class NoteForm(ServiceErrors, forms.Form):
    note = forms.CharField(
        label="Add a note", max_length=NOTE_MAX, widget=forms.Textarea(attrs={"rows": 2})
    )


def _postmortem_field(label: str, help_text: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,  # each is required to close, not to save a draft
        max_length=POSTMORTEM_MAX,
        help_text=help_text,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class PostmortemForm(ServiceErrors, forms.Form):
    impact = _postmortem_field("Impact", "Who and what was affected, for how long.")
    timeline_summary = _postmortem_field("Timeline", "Detection, containment, recovery.")
    contributing_factors = _postmortem_field("Contributing factors", "Why it happened.")
    corrective_actions = _postmortem_field("Corrective actions", "What changes, and who owns it.")


class DestinationPauseForm(ServiceErrors, forms.Form):
    destination = forms.ChoiceField(label="Destination")

    def __init__(self, *args, destinations=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["destination"].choices = [(d.public_id, d.name) for d in destinations]


class KeyRevokeForm(ServiceErrors, forms.Form):
    key = forms.ChoiceField(label="API key")

    def __init__(self, *args, keys=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["key"].choices = [
            (k.public_id, f"{k.name} ({k.display_prefix}…)") for k in keys
        ]
