"""The access review pages' forms: they parse; the services validate again and decide."""

import datetime as dt

from django import forms
from django.utils import timezone

from compliance.access_reviews.models import Decision
from compliance.access_reviews.services import COMMENT_MAX
from tracklayer.exceptions import DomainError
from workspaces.models import Role


class ServiceErrors:
    def add_service_errors(self, error: DomainError) -> None:
        """The refused field on its field (or above the form)."""
        self.add_error(error.field if error.field in self.fields else None, error.message)


class CampaignOpenForm(ServiceErrors, forms.Form):
    due_at = forms.DateField(
        label="Due",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Reviewers decide each member and key by this day (UTC).",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["due_at"].initial = (timezone.now() + dt.timedelta(days=14)).date()


class DecisionForm(ServiceErrors, forms.Form):
    item = forms.CharField(widget=forms.HiddenInput, max_length=32)
    decision = forms.ChoiceField(label="Decision", choices=Decision.choices)
    new_role = forms.ChoiceField(
        label="New role", required=False, choices=[("", "—"), *Role.choices]
    )
    comment = forms.CharField(
        label="Comment",
        required=False,
        max_length=COMMENT_MAX,
        help_text="Required to change or remove.",
    )


SHOW_CHOICES = [
    ("all", "All"),
    ("undecided", "Undecided"),
    ("decided", "Decided"),
    ("flagged", "Flagged"),
]


class ItemFilterForm(forms.Form):
    """A campaign page's rows: which ones (``show``) and which page of them."""

    show = forms.ChoiceField(label="Show", required=False, choices=SHOW_CHOICES)
    page = forms.IntegerField(required=False, min_value=1, max_value=100_000)
