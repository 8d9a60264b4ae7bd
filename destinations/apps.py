from django.apps import AppConfig

from privacy.requests import forwarding
from tracklayer import keyring


class DestinationsConfig(AppConfig):
    """The data plane: ingestion, event store, outbox, adapters and delivery (issues 6 and 7)."""

    name = "destinations"

    def ready(self) -> None:
        # Imported here, not at the top: the modules import the app's models, which Django
        # allows only once every app is loaded — which is when ready() runs.
        from destinations.routing.secrets import secrets_context
        from destinations.subject_requests.forwarder import FORWARDER

        keyring.register_sealed_field(
            "destinations.Destination", "secrets_encrypted", secrets_context
        )
        # Deletions are passed on downstream (privacy sits below destinations and cannot
        # import it: it calls what is registered).
        forwarding.register(FORWARDER)
