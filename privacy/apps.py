from django.apps import AppConfig

from tracklayer import keyring


class PrivacyConfig(AppConfig):
    """Consent firewall, PII normalisation and hashing, data-subject requests (issue 5)."""

    name = "privacy"

    def ready(self) -> None:
        from privacy.requests.matching import key_row_context

        keyring.register_sealed_field("privacy.SubjectKey", "key_encrypted", key_row_context)
