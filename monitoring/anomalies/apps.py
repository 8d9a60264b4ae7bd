from django.apps import AppConfig

from tracklayer import keyring


class AnomaliesConfig(AppConfig):
    """Anomalies found by the detectors, and the alerts sent about them."""

    name = "monitoring.anomalies"
    label = "anomalies"

    def ready(self) -> None:
        # Imported here, not at the top: models load only once every app is loaded.
        from monitoring.anomalies.models import alert_secret_context

        keyring.register_sealed_field(
            "anomalies.AlertSettings", "webhook_secret_encrypted", alert_secret_context
        )
