"""A cache entry becomes the same unsaved ApiKey as the keyword constructor made of it
(workspaces/api_key_cache.api_key_from_entry builds it by position, as from_db does)."""

import datetime as dt
import random

from workspaces.api_key_cache import api_key_from_entry
from workspaces.models import ApiKey


def keyword_form(prefix: str, entry: dict) -> ApiKey:
    """What api_key_from_entry returned before: ApiKey(pk=…, …)."""
    expires_at = entry["expires_at"]
    return ApiKey(
        pk=entry["id"],
        public_id=entry["public_id"],
        workspace_id=entry["workspace_id"],
        role=entry["role"],
        environment=entry["environment"],
        name=entry["name"],
        prefix=prefix,
        expires_at=dt.datetime.fromtimestamp(expires_at, tz=dt.UTC) if expires_at else None,
    )


def state(key: ApiKey) -> dict:
    values = {name: value for name, value in vars(key).items() if name != "_state"}
    return {**values, "_state": (key._state.adding, key._state.db, key._state.fields_cache)}


def test_entries_give_the_keyword_constructors_key():
    chance = random.Random(17)
    for n in range(300):
        entry = {
            "id": chance.randrange(1, 2**40),
            "public_id": f"key_{chance.getrandbits(64):x}",
            "workspace_id": chance.randrange(1, 2**31),
            "role": chance.choice(["write", "read", "admin", "editor", "viewer"]),
            "environment": chance.choice(["live", "test"]),
            "name": chance.choice(["", "web", "naïve ✓", "x" * 100, " spaced "]),
            "expires_at": chance.choice([None, 0, 1.5, chance.uniform(0, 4e9)]),
        }
        prefix = f"{chance.getrandbits(48):012x}"
        built, expected = api_key_from_entry(prefix, entry), keyword_form(prefix, entry)
        assert state(built) == state(expected), n
        assert built.pk == expected.pk and built.expires_at == expected.expires_at
        assert built.workspace_id == entry["workspace_id"] and built.prefix == prefix
