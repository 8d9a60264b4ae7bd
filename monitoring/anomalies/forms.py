"""The Anomalies page's forms: the list's filters and the alert settings (admins). The forms
shape input; ``services.alert_settings_update`` checks it and names a refused field."""

from django import forms

from monitoring.anomalies import selectors
from monitoring.anomalies.models import AnomalyKind, AnomalySeverity, AnomalyStatus
from monitoring.anomalies.services import QUIET_MINUTES_MAX
from workspaces.models import User


class AnomalyFilterForm(forms.Form):
    status = forms.ChoiceField(
        required=False,
        choices=[("", "Open and acknowledged"), ("all", "All"), *AnomalyStatus.choices],
    )
    kind = forms.ChoiceField(required=False, choices=[("", "Every kind"), *AnomalyKind.choices])


class AlertSettingsForm(forms.Form):
    email_members = forms.ModelMultipleChoiceField(
        label="E-mail these members",
        queryset=User.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    webhook_url = forms.URLField(
        label="Alert webhook URL",
        required=False,
        max_length=500,
        assume_scheme="https",
        help_text="Signed like TrackLayer's webhooks (X-TrackLayer-Signature). Leave empty for "
        "none.",
    )
    new_secret = forms.BooleanField(
        label="Make a new signing secret", required=False, help_text="The old one stops at once."
    )
    quiet_minutes = forms.IntegerField(
        label="Quiet period (minutes)",
        min_value=0,
        max_value=QUIET_MINUTES_MAX,
        help_text="No second alert for the same kind and subject within this time.",
    )
    min_severity = forms.ChoiceField(label="Alert from severity", choices=AnomalySeverity.choices)

    def __init__(self, *args, workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email_members"].queryset = selectors.alert_recipient_choices(
            workspace=workspace
        )
        self.fields["email_members"].label_from_instance = lambda user: user.display_name
