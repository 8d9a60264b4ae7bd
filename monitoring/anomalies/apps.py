from django.apps import AppConfig


class AnomaliesConfig(AppConfig):
    """Anomalies found by the detectors, and the alerts sent about them."""

    name = "monitoring.anomalies"
    label = "anomalies"
