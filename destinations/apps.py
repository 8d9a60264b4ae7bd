from django.apps import AppConfig


class DestinationsConfig(AppConfig):
    """The data plane: ingestion, event store, outbox, adapters and delivery (issues 6 and 7)."""

    name = "destinations"
