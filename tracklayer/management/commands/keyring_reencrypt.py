"""Re-encrypt every secret at rest with the key ring's current key (after adding a new key
in front of ``TRACKLAYER_KEYRING``); afterwards the old key can be removed.

Which secrets exist is the apps' business: each registers its own in ``tracklayer.keyring``
(from its ``AppConfig.ready()``), and this command re-encrypts whatever is registered."""

from django.core.management.base import BaseCommand
from django.db import transaction

from tracklayer import keyring


class Command(BaseCommand):
    help = "Re-encrypt all secrets at rest with the current key of TRACKLAYER_KEYRING."

    @transaction.atomic
    def handle(self, *args, **options):
        current = keyring.keyring().current_id
        for name, reseal in keyring.resealers():
            self.stdout.write(f"{name}: {reseal()} re-encrypted")
        self.stdout.write(f"All secrets are now sealed with key {current!r}.")
