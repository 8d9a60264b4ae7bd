import base64
import os

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.tracklayer.helpers import ring
from tracklayer import keyring
from tracklayer.keyring import KeyringError


@pytest.fixture
def keys(settings):
    def use(value: str) -> None:
        settings.TRACKLAYER_KEYRING = value

    use(ring("k1"))
    return use


def test_round_trip_is_bound_to_its_context(keys):
    token = keyring.encrypt(b"signing key", context="audit-signing-key:ws_1")
    assert token.startswith("v1:k1:")
    assert b"signing key" not in base64.b64decode(token.split(":")[2])
    assert keyring.decrypt(token, context="audit-signing-key:ws_1") == b"signing key"
    with pytest.raises(KeyringError, match="another context"):
        keyring.decrypt(token, context="audit-signing-key:ws_2")


def test_each_encryption_uses_a_fresh_nonce(keys):
    assert keyring.encrypt(b"x", context="c") != keyring.encrypt(b"x", context="c")


def test_rotation_new_key_encrypts_old_key_still_decrypts(settings, keys):
    old_ring = settings.TRACKLAYER_KEYRING
    token = keyring.encrypt(b"secret", context="c")
    keys(ring("k2") + "," + old_ring)

    assert keyring.needs_reencryption(token)
    assert keyring.decrypt(token, context="c") == b"secret"
    fresh = keyring.reencrypt(token, context="c")
    assert fresh.startswith("v1:k2:") and not keyring.needs_reencryption(fresh)

    keys(ring("k3"))  # the old keys dropped: old ciphertexts no longer open
    with pytest.raises(KeyringError, match="no key 'k1'"):
        keyring.decrypt(token, context="c")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-2] + ("A" if t[-2] != "A" else "B") + t[-1],
        lambda t: "v2" + t[2:],
        lambda t: t.split(":")[0] + ":k1:***",
        lambda t: "v1:k1:" + base64.b64encode(b"short").decode(),
        lambda t: "garbage",
    ],
)
def test_tampered_or_malformed_ciphertexts_are_refused(keys, tamper):
    token = keyring.encrypt(b"secret", context="c")
    with pytest.raises(KeyringError):
        keyring.decrypt(tamper(token), context="c")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "empty"),
        ("k1:not base64!", "not base64"),
        ("k1:" + base64.b64encode(b"short").decode(), "32 bytes"),
        ("bad id:" + base64.b64encode(os.urandom(32)).decode(), "bad key id"),
        (ring("k1") + "," + ring("k1"), "appears twice"),
    ],
)
def test_bad_keyrings_are_configuration_errors(value, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        keyring.parse_keyring(value)


def test_production_requires_a_keyring(settings):
    settings.TRACKLAYER_KEYRING = ""
    settings.IS_PRODUCTION = True
    with pytest.raises(ImproperlyConfigured, match="must be set in production"):
        keyring.encrypt(b"x", context="c")


def test_development_derives_a_stable_key_from_secret_key(settings):
    settings.TRACKLAYER_KEYRING = ""
    token = keyring.encrypt(b"x", context="c")
    assert token.startswith("v1:dev:")
    assert keyring.decrypt(token, context="c") == b"x"
