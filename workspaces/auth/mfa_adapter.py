"""allauth's MFA adapter: TOTP secrets and recovery-code seeds are sealed with the key ring.

allauth stores what it needs to check a code in ``Authenticator.data`` and passes each secret
through its adapter's ``encrypt()`` / ``decrypt()`` hooks; by default they do nothing, so a
database dump (or anyone who can read the table) could mint a user's second factor. Here the
hooks seal with ``tracklayer.keyring`` (AES-256-GCM, rotatable keys, bound to one context).

Guarantees:
- every secret allauth writes is stored as a key-ring ciphertext, never in clear;
- ``decrypt`` accepts only key-ring ciphertexts: a plain secret written into the table (by hand,
  or by someone with write access to the database) is refused rather than trusted;
- ``authenticator_data_seal`` / ``authenticator_data_reseal`` are the one place that knows which
  keys of ``Authenticator.data`` are secret — used by migration 0003 and by
  ``tracklayer keyring-reencrypt``.
"""

from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.mfa.models import Authenticator

from tracklayer import keyring

# One context for every MFA secret: allauth's hooks are not told which row they serve, so the
# ciphertext cannot be bound to a user. Binding it to the purpose still stops a ciphertext of
# another kind (a platform token, a signing key) from being replayed as a TOTP secret.
CONTEXT = "mfa-authenticator-secret"

# Authenticator type → the keys of its ``data`` that hold a secret (a string or a list of them).
SECRET_FIELDS = {
    "totp": ("secret",),
    "recovery_codes": ("seed", "migrated_codes"),
}


class MFAAdapter(DefaultMFAAdapter):
    def encrypt(self, text: str) -> str:
        return keyring.encrypt(text.encode(), context=CONTEXT)

    def decrypt(self, encrypted_text: str) -> str:
        return keyring.decrypt(encrypted_text, context=CONTEXT).decode()


def is_sealed(value: str) -> bool:
    # Base32 TOTP secrets and hex seeds never contain ":"; key-ring ciphertexts always start
    # with their version.
    return value.startswith(f"{keyring.VERSION}:")


def _map_secrets(kind: str, data: dict, transform) -> tuple[dict, bool]:
    """``data`` with ``transform`` applied to each secret of its kind; and whether anything
    changed."""
    changed = False
    result = dict(data)
    for field in SECRET_FIELDS.get(kind, ()):
        value = data.get(field)
        if isinstance(value, str):
            new = transform(value)
        elif isinstance(value, list):
            new = [transform(item) for item in value]
        else:
            continue
        if new != value:
            result[field] = new
            changed = True
    return result, changed


def authenticator_data_seal(kind: str, data: dict) -> tuple[dict, bool]:
    """Seal the secrets that are still in clear (migration 0003); sealed ones stay as they are."""
    return _map_secrets(
        kind,
        data,
        lambda v: v if is_sealed(v) else keyring.encrypt(v.encode(), context=CONTEXT),
    )


def authenticator_data_unseal(kind: str, data: dict) -> tuple[dict, bool]:
    """The reverse of ``authenticator_data_seal`` (only for reversing migration 0003)."""
    return _map_secrets(
        kind,
        data,
        lambda v: keyring.decrypt(v, context=CONTEXT).decode() if is_sealed(v) else v,
    )


def authenticator_data_reseal(kind: str, data: dict) -> tuple[dict, bool]:
    """Re-encrypt secrets sealed with an older key of the ring with its current one."""
    return _map_secrets(
        kind,
        data,
        lambda v: keyring.reencrypt(v, context=CONTEXT) if keyring.needs_reencryption(v) else v,
    )


def mfa_secrets_reencrypt() -> int:
    """Re-encrypt every authenticator's secrets with the ring's current key, in the caller's
    transaction (``tracklayer keyring-reencrypt``); the number of authenticators changed."""
    changed = 0
    for authenticator in Authenticator.objects.select_for_update().filter(
        type__in=list(SECRET_FIELDS)
    ):
        data, did_change = authenticator_data_reseal(authenticator.type, authenticator.data)
        if did_change:
            authenticator.data = data
            authenticator.save(update_fields=["data"])
            changed += 1
    return changed
