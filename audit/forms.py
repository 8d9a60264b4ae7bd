from django import forms
from django.conf import settings

from audit.export import export_path_clean
from audit.models import ExportTarget
from tracklayer import http
from tracklayer.exceptions import DomainError

DAYS = [
    ("0", "Sunday"),
    ("1", "Monday"),
    ("2", "Tuesday"),
    ("3", "Wednesday"),
    ("4", "Thursday"),
    ("5", "Friday"),
    ("6", "Saturday"),
    ("*", "Every day"),
]


class ExportConfigForm(forms.Form):
    enabled = forms.BooleanField(required=False, label="Export on a schedule")
    target = forms.ChoiceField(choices=ExportTarget.choices)
    s3_endpoint_url = forms.URLField(
        required=False,
        assume_scheme="https",
        label="Endpoint URL",
        help_text="Empty for AWS S3; R2, MinIO: their URL.",
    )
    s3_bucket = forms.CharField(required=False, max_length=63, label="Bucket")
    s3_region = forms.CharField(required=False, max_length=32, label="Region")
    s3_access_key_id = forms.CharField(required=False, max_length=128, label="Access key id")
    s3_secret_access_key = forms.CharField(
        required=False,
        label="Secret access key",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Stored encrypted; leave empty to keep the stored one.",
    )
    directory = forms.CharField(
        required=False,
        max_length=500,
        label="Folder",
        help_text=(
            "A folder inside this workspace's own export area on the server, such as “audit”. "
            "The operator chooses where the area is; other workspaces cannot reach it."
        ),
    )
    prefix = forms.CharField(
        required=False,
        max_length=200,
        help_text="Put in front of each export's name, such as “compliance/audit”: relative, "
        "no “..”.",
    )
    schedule_day_of_week = forms.ChoiceField(choices=DAYS, label="Day (UTC)")
    schedule_hour = forms.IntegerField(min_value=0, max_value=23, label="Hour (UTC)")
    schedule_minute = forms.IntegerField(min_value=0, max_value=59, label="Minute")
    witness_url = forms.URLField(
        required=False,
        assume_scheme="https",
        label="Checkpoint witness URL",
        help_text="Each signed checkpoint is POSTed here (text/plain) as soon as it is signed.",
    )
    retention_days = forms.IntegerField(
        min_value=1, max_value=3650, label="Keep exports for (days)"
    )

    # The same egress policy every send applies (tracklayer/http.py): a refused URL is named
    # on its field at once instead of failing later in a worker.
    def clean_s3_endpoint_url(self):
        return _egress_checked(self.cleaned_data["s3_endpoint_url"])

    def clean_witness_url(self):
        return _egress_checked(self.cleaned_data["witness_url"])

    # The service applies the same rules (export_path_clean); here they name the field early.
    def clean_directory(self) -> str:
        return _path(self.cleaned_data["directory"], field="directory")

    def clean_prefix(self) -> str:
        return _path(self.cleaned_data["prefix"], field="prefix")


def _path(value: str, *, field: str) -> str:
    try:
        return export_path_clean(value, field=field)
    except DomainError as error:
        raise forms.ValidationError(error.message, code="path_refused") from None


def _egress_checked(url: str) -> str:
    if url:
        reason = http.url_refusal(url, unresolvable_ok=not settings.IS_PRODUCTION)
        if reason:
            raise forms.ValidationError(reason, code="egress_refused")
    return url
