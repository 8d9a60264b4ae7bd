"""SCIM bearer tokens: ``tlscim_<prefix>_<secret>``.

The prefix (12 characters) is stored in clear and indexed: it finds the row and names the
token in lists and audit entries. The secret (52 characters of Crockford base32, 260 bits) is
stored only as its SHA-256: with that much entropy a slow hash adds nothing, and a check costs
no bcrypt (docs/identity.md, "SCIM").
"""

import hashlib
import hmac
import re
from dataclasses import dataclass

from workspaces.keys import ALPHABET, PREFIX_LENGTH, SECRET_LENGTH, new_prefix, new_secret

TOKEN_RE = re.compile(
    rf"^tlscim_([{ALPHABET}]{{{PREFIX_LENGTH}}})_([{ALPHABET}]{{{SECRET_LENGTH}}})$"
)


@dataclass(frozen=True)
class ParsedToken:
    prefix: str
    secret: str


def new_token_parts() -> tuple[str, str]:
    return new_prefix(), new_secret()


def format_token(prefix: str, secret: str) -> str:
    return f"tlscim_{prefix}_{secret}"


def parse_token(token: str) -> ParsedToken | None:
    """The token's parts, or None when it is not shaped like a SCIM token."""
    match = TOKEN_RE.match(token or "")
    return ParsedToken(*match.groups()) if match else None


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_secret(secret: str, secret_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), secret_hash)
