"""Seal the MFA secrets stored before the MFA adapter encrypted them (TOTP secrets and
recovery-code seeds, in clear in ``mfa_authenticator.data``) with the key ring.

Idempotent: values that are already key-ring ciphertexts are left alone. Reversible (the
secrets are decrypted again) so that rolling back to the plain adapter keeps MFA working.
"""

from django.db import migrations

from workspaces.auth.mfa_adapter import (
    SECRET_FIELDS,
    authenticator_data_seal,
    authenticator_data_unseal,
)


def _rewrite(apps, transform) -> None:
    Authenticator = apps.get_model("mfa", "Authenticator")
    for authenticator in Authenticator.objects.filter(type__in=list(SECRET_FIELDS)).iterator():
        data, changed = transform(authenticator.type, authenticator.data)
        if changed:
            authenticator.data = data
            authenticator.save(update_fields=["data"])


def seal(apps, schema_editor) -> None:
    _rewrite(apps, authenticator_data_seal)


def unseal(apps, schema_editor) -> None:
    _rewrite(apps, authenticator_data_unseal)


class Migration(migrations.Migration):
    dependencies = [
        ("workspaces", "0002_api_key_audit_role"),
        ("mfa", "0003_authenticator_type_uniq"),
    ]

    operations = [migrations.RunPython(seal, unseal)]
