"""Privacy → Retention's form: the windows ``retention_windows_update`` sets, bounded as it
bounds them (``RETENTION_BOUNDS``), so the browser and the service refuse the same values."""

from django import forms

from destinations.retention.services import RETENTION_BOUNDS


def _days(label: str, name: str, help_text: str) -> forms.IntegerField:
    low, high = RETENTION_BOUNDS[name]
    return forms.IntegerField(label=label, min_value=low, max_value=high, help_text=help_text)


class RetentionForm(forms.Form):
    events_retention_days = _days(
        "Keep events (days)",
        "events_retention_days",
        "Events, and what the events debugger shows of them, are deleted after this (1 to 3,650).",
    )
    operational_retention_days = _days(
        "Keep IP addresses and user agents (days)",
        "operational_retention_days",
        "At most 30. With 0 they are removed at the next hourly purge.",
    )
    delivery_retention_days = _days(
        "Keep delivery attempts and dead letters (days)",
        "delivery_retention_days",
        "Finished deliveries, their attempts and dead letters (1 to 3,650).",
    )

    @classmethod
    def for_settings(cls, settings, data=None):
        return cls(data, initial={name: getattr(settings, name) for name in cls.base_fields})
