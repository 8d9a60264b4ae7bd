"""Encryption at rest for secrets the application must read back (signing keys, platform tokens).

AES-256-GCM with keys from the environment (``TRACKLAYER_KEYRING``): the first key encrypts,
any key decrypts, so keys rotate without downtime — add a new key in front, re-encrypt, then
drop the old one. A ciphertext is ``v1:<key id>:<base64(nonce ‖ ciphertext ‖ tag)>``.

Each ciphertext is bound to a *context* (for example ``audit-signing-key:ws_…``) given as
associated data: a ciphertext copied to another row or purpose fails to decrypt instead of
quietly yielding someone else's secret.

Every app that seals something registers it here (``register_sealed_field`` for a column,
``register_resealer`` for secrets kept some other way), from its ``AppConfig.ready()``;
``tracklayer keyring-reencrypt`` walks the registry and knows no app's internals.
"""

import base64
import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, partial

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

VERSION = "v1"
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class KeyringError(Exception):
    """A ciphertext that cannot be decrypted: unknown key, wrong context, or tampered."""


@dataclass(frozen=True)
class Keyring:
    keys: tuple[tuple[str, bytes], ...]  # (id, 32-byte key); the first one encrypts

    @property
    def current_id(self) -> str:
        return self.keys[0][0]

    def key(self, key_id: str) -> bytes:
        for candidate, key in self.keys:
            if candidate == key_id:
                return key
        raise KeyringError(f"the key ring has no key {key_id!r}")


def parse_keyring(value: str) -> Keyring:
    """``id:base64key,id:base64key`` (the first encrypts); each key exactly 32 bytes."""
    keys: list[tuple[str, bytes]] = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        key_id, _, encoded = item.partition(":")
        if not _KEY_ID.match(key_id):
            raise ImproperlyConfigured(f"TRACKLAYER_KEYRING: bad key id {key_id!r}")
        try:
            key = base64.b64decode(encoded, validate=True)
        except ValueError:
            raise ImproperlyConfigured(
                f"TRACKLAYER_KEYRING: key {key_id!r} is not base64"
            ) from None
        if len(key) != 32:
            raise ImproperlyConfigured(f"TRACKLAYER_KEYRING: key {key_id!r} must be 32 bytes")
        if any(key_id == existing for existing, _ in keys):
            raise ImproperlyConfigured(f"TRACKLAYER_KEYRING: key id {key_id!r} appears twice")
        keys.append((key_id, key))
    if not keys:
        raise ImproperlyConfigured("TRACKLAYER_KEYRING is empty")
    return Keyring(tuple(keys))


@cache
def _keyring_for(value: str, secret_key: str, production: bool) -> Keyring:
    if value:
        return parse_keyring(value)
    if production:
        raise ImproperlyConfigured(
            "TRACKLAYER_KEYRING must be set in production (see .env.example for how to make one)"
        )
    # Development and tests: a key derived from SECRET_KEY, so nothing needs configuring.
    return Keyring((("dev", development_key(secret_key)),))


def development_key(secret_key: str) -> bytes:
    """The key (id ``dev``) development and tests use when no key ring is set."""
    return hashlib.sha256(b"tracklayer-dev-keyring:" + secret_key.encode()).digest()


def keyring() -> Keyring:
    return _keyring_for(settings.TRACKLAYER_KEYRING, settings.SECRET_KEY, settings.IS_PRODUCTION)


def encrypt(plaintext: bytes, *, context: str) -> str:
    ring = keyring()
    nonce = os.urandom(12)
    sealed = AESGCM(ring.key(ring.current_id)).encrypt(nonce, plaintext, context.encode())
    return f"{VERSION}:{ring.current_id}:{base64.b64encode(nonce + sealed).decode()}"


def decrypt(token: str, *, context: str) -> bytes:
    version, _, rest = token.partition(":")
    key_id, _, encoded = rest.partition(":")
    if version != VERSION or not key_id or not encoded:
        raise KeyringError("not a TrackLayer ciphertext")
    try:
        blob = base64.b64decode(encoded, validate=True)
    except ValueError:
        raise KeyringError("ciphertext is not base64") from None
    if len(blob) < 12 + 16:
        raise KeyringError("ciphertext is too short")
    try:
        return AESGCM(keyring().key(key_id)).decrypt(blob[:12], blob[12:], context.encode())
    except InvalidTag:
        raise KeyringError("ciphertext does not decrypt (tampered, or another context)") from None


def needs_reencryption(token: str) -> bool:
    """True when ``token`` was sealed with a key other than the ring's current one."""
    return token.split(":", 2)[1:2] != [keyring().current_id]


def reencrypt(token: str, *, context: str) -> str:
    return encrypt(decrypt(token, context=context), context=context)


# --- What is sealed where: the registry keyring-reencrypt walks -------------------------------

#: name → a function that re-encrypts, in the caller's transaction, every secret of its kind
#: sealed with an older key of the ring, and returns how many rows it changed.
_resealers: dict[str, Callable[[], int]] = {}


def register_resealer(name: str, reseal: Callable[[], int]) -> None:
    """Register secrets kept in a form of their own (e.g. inside a JSON column). Registering
    a name again replaces its resealer."""
    _resealers[name] = reseal


def register_sealed_field(model_label: str, field: str, context: Callable[[object], str]) -> None:
    """Register a text column holding one ciphertext per row (``""`` for none): ``model_label``
    as ``"app_label.ModelName"``, ``context(row)`` the context the row's value is bound to."""
    register_resealer(f"{model_label}.{field}", partial(_reseal_field, model_label, field, context))


def resealers() -> list[tuple[str, Callable[[], int]]]:
    """Every registered kind of secret, in the order the apps registered them."""
    return list(_resealers.items())


def _reseal_field(model_label: str, field: str, context: Callable[[object], str]) -> int:
    model = apps.get_model(model_label)
    changed = 0
    for row in model.objects.select_for_update().exclude(**{field: ""}):
        token = getattr(row, field)
        if needs_reencryption(token):
            setattr(row, field, reencrypt(token, context=context(row)))
            row.save(update_fields=[field])
            changed += 1
    return changed
