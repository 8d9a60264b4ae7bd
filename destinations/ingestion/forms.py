from django import forms

from destinations.ingestion.services import SETTING_BOUNDS


def _bounded(label: str, name: str, help_text: str = "") -> forms.IntegerField:
    low, high = SETTING_BOUNDS[name]
    return forms.IntegerField(label=label, min_value=low, max_value=high, help_text=help_text)


class IngestionSettingsForm(forms.Form):
    max_event_bytes = _bounded("Largest event (bytes)", "max_event_bytes")
    max_request_bytes = _bounded("Largest request (bytes)", "max_request_bytes")
    max_batch_events = _bounded("Most events per batch", "max_batch_events")
    rate_per_second = _bounded(
        "Events per second per key", "rate_per_second", "Sustained; beyond it requests get 429."
    )
    rate_burst = _bounded("Burst per key", "rate_burst", "Events a key may send at once.")
    dedup_window_days = _bounded(
        "De-duplication window (days)",
        "dedup_window_days",
        "A messageId seen within this window is acknowledged and not stored again.",
    )
    default_region = forms.CharField(
        label="Default country for phone numbers",
        required=False,
        max_length=2,
        help_text="Used to read numbers sent without a country code, e.g. DE.",
    )
    pii_paths = forms.CharField(
        label="More personal fields",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "properties.vat_id"}),
        help_text="One path per line (properties., traits. or context.): stored only as a "
        "SHA-256 hash.",
    )

    @classmethod
    def for_settings(cls, settings, data=None):
        initial = {name: getattr(settings, name) for name in cls.base_fields}
        initial["pii_paths"] = "\n".join(settings.pii_paths)
        return cls(data, initial=initial)

    def clean_default_region(self):
        return self.cleaned_data["default_region"].strip().upper()

    def clean_pii_paths(self):
        return [
            line.strip() for line in self.cleaned_data["pii_paths"].splitlines() if line.strip()
        ]
