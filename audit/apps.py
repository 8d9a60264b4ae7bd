from django.apps import AppConfig

from tracklayer import keyring


class AuditConfig(AppConfig):
    """The tamper-evident audit log: one append-only, hash-linked log per workspace."""

    name = "audit"

    def ready(self) -> None:
        # Imported here, not at the top: these modules import the app's models, which Django
        # allows only once every app is loaded — which is when ready() runs.
        from audit.export import secret_context
        from audit.services import signing_key_context

        keyring.register_sealed_field(
            "audit.AuditSigningKey", "private_key_encrypted", signing_key_context
        )
        keyring.register_sealed_field(
            "audit.AuditExportConfig", "s3_secret_access_key_encrypted", secret_context
        )
