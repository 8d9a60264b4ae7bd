from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    """Consent firewall, PII normalisation and hashing, data-subject requests (issue 5)."""

    name = "privacy"
