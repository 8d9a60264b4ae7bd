"""A destination's secrets (access tokens, API secrets, signing secrets): stored as JSON
encrypted with the key ring, bound to the destination's public id. Decrypted only for the
delivery engine, test sends and the masked view of pages and API answers; a secret never
reaches an audit payload, a log line, an exception message or a page.
"""

import orjson

from destinations.models import Destination
from tracklayer import keyring


def secrets_context(destination: Destination) -> str:
    """The associated data binding a destination's ciphertext to it (keyring_reencrypt uses
    it too)."""
    return f"destination-secrets:{destination.public_id}"


def secrets_seal(destination: Destination, secrets: dict[str, str]) -> str:
    if not secrets:
        return ""
    plaintext = orjson.dumps(secrets, option=orjson.OPT_SORT_KEYS)
    return keyring.encrypt(plaintext, context=secrets_context(destination))


def destination_secrets(destination: Destination) -> dict[str, str]:
    """The destination's secrets, decrypted (for the delivery engine and test sends only).

    Raises ``tracklayer.keyring.KeyringError`` (whose message carries no secret) when the
    ciphertext cannot be opened — an unknown key, or a ciphertext copied from another row."""
    if not destination.secrets_encrypted:
        return {}
    plaintext = keyring.decrypt(destination.secrets_encrypted, context=secrets_context(destination))
    return orjson.loads(plaintext)


def secret_mask(value: str) -> str:
    """What a page or an API answer shows of a stored secret: its last four characters when
    it is long enough for that to give nothing useful away, else only that it is set."""
    if isinstance(value, str) and len(value) >= 16:
        return "••••" + value[-4:]
    return "set"


def destination_secrets_masked(destination: Destination) -> dict[str, str]:
    return {name: secret_mask(value) for name, value in destination_secrets(destination).items()}
