from django.apps import AppConfig


class PublicVerificationConfig(AppConfig):
    """The per-workspace opt-in to public verification of its audit log."""

    name = "compliance.public_verification"
    label = "public_verification"
