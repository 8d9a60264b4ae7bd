"""Re-encrypt every secret at rest with the key ring's current key (after adding a new key
in front of ``TRACKLAYER_KEYRING``); afterwards the old key can be removed."""

from django.core.management.base import BaseCommand
from django.db import transaction

from audit.export import secret_context
from audit.models import AuditExportConfig, AuditSigningKey
from audit.services import signing_key_context
from destinations.models import Destination
from destinations.routing.secrets import secrets_context as destination_secrets_context
from tracklayer import keyring
from workspaces.auth.mfa_adapter import mfa_secrets_reencrypt

# (model, encrypted field, context for a row) — every encrypted column, in one list.
ENCRYPTED_FIELDS = [
    (AuditSigningKey, "private_key_encrypted", signing_key_context),
    (AuditExportConfig, "s3_secret_access_key_encrypted", secret_context),
    (Destination, "secrets_encrypted", destination_secrets_context),
]


class Command(BaseCommand):
    help = "Re-encrypt all secrets at rest with the current key of TRACKLAYER_KEYRING."

    @transaction.atomic
    def handle(self, *args, **options):
        current = keyring.keyring().current_id
        for model, field, context in ENCRYPTED_FIELDS:
            changed = 0
            for row in model.objects.select_for_update().exclude(**{field: ""}):
                token = getattr(row, field)
                if keyring.needs_reencryption(token):
                    setattr(row, field, keyring.reencrypt(token, context=context(row)))
                    row.save(update_fields=[field])
                    changed += 1
            self.stdout.write(f"{model._meta.label}.{field}: {changed} re-encrypted")
        # MFA secrets sit inside allauth's Authenticator.data (JSON), not in a column of their own.
        self.stdout.write(f"mfa.Authenticator.data: {mfa_secrets_reencrypt()} re-encrypted")
        self.stdout.write(f"All secrets are now sealed with key {current!r}.")
