"""API key tokens: ``tl_<environment>_<prefix>_<secret>``.

The prefix (12 characters, 60 bits) is stored in clear and indexed: it finds the row and
names the key in lists and audit entries. The secret (52 characters, 260 bits) is stored only
as a bcrypt hash. Both use lowercase Crockford base32, so a token is one "word" that survives
double-click selection, URLs and shell quoting.
"""

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from functools import cache

import bcrypt
from django.conf import settings

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
PREFIX_LENGTH = 12
SECRET_LENGTH = 52
TOKEN_RE = re.compile(
    rf"^tl_(live|test)_([{ALPHABET}]{{{PREFIX_LENGTH}}})_([{ALPHABET}]{{{SECRET_LENGTH}}})$"
)


@dataclass(frozen=True)
class ParsedToken:
    environment: str
    prefix: str
    secret: str


def _random(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def new_prefix() -> str:
    return _random(PREFIX_LENGTH)


def new_secret() -> str:
    return _random(SECRET_LENGTH)


def format_token(environment: str, prefix: str, secret: str) -> str:
    return f"tl_{environment}_{prefix}_{secret}"


def parse_token(token: str) -> ParsedToken | None:
    """The token's parts, or None when it is not shaped like a TrackLayer key."""
    match = TOKEN_RE.match(token or "")
    return ParsedToken(*match.groups()) if match else None


def hash_secret(secret: str) -> str:
    rounds = settings.API_KEY_BCRYPT_ROUNDS
    return bcrypt.hashpw(secret.encode(), bcrypt.gensalt(rounds)).decode()


def check_secret(secret: str, secret_hash: str) -> bool:
    return bcrypt.checkpw(secret.encode(), secret_hash.encode())


@cache
def _dummy_hash(rounds: int) -> str:
    return bcrypt.hashpw(b"tracklayer-no-such-key", bcrypt.gensalt(rounds)).decode()


def check_secret_against_nothing(secret: str) -> bool:
    """The cost of ``check_secret`` for a prefix that names no key: one bcrypt with the same
    work factor, so that the answer's timing does not tell which prefixes exist. Always
    False."""
    check_secret(secret, _dummy_hash(settings.API_KEY_BCRYPT_ROUNDS))
    return False


@cache
def _digest_key(secret_key: str) -> tuple[str, bytes]:
    key = hashlib.sha256(b"tracklayer.api-key-cache.v2:" + secret_key.encode()).digest()
    key_id = hashlib.sha256(b"tracklayer.api-key-cache.key-id:" + key).hexdigest()[:16]
    return key_id, key


def digest_key_id() -> str:
    """Names the key ``secret_digest`` uses now; a cache entry made under another key (before a
    ``SECRET_KEY`` rotation) carries another id and is ignored, not trusted or refused."""
    return _digest_key(settings.SECRET_KEY)[0]


def secret_digest(secret: str) -> str:
    """A fast keyed hash of a presented secret, for the verification cache (never stored in the
    database): without the server's key it says nothing about the secret. The key is derived
    from ``SECRET_KEY`` for this one purpose."""
    _key_id, key = _digest_key(settings.SECRET_KEY)
    return hmac.new(key, secret.encode(), hashlib.sha256).hexdigest()
