"""Public identifiers: a type prefix and 20 random base32 characters (100 bits).

Public ids are what URLs, API bodies and audit entries show; database primary keys stay
internal so that row counts and creation order are not disclosed.
"""

import secrets

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford's base32, lowercase


def new_public_id(prefix: str) -> str:
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(20))
