"""The shared cache of verified API keys (Redis, so every process sees a revocation at once).

An entry lives under the key's prefix and holds the keyed digest of the secret that was
verified with bcrypt, plus what authentication needs (workspace, role, expiry). A request
whose secret has the same digest is authenticated without bcrypt and without the database;
one whose digest differs is refused at once. Revoking or rotating a key deletes its entry
when the change commits. See docs/adr/0003-api-key-verification-cache.md.
"""

import datetime as dt

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone


def _cache_key(prefix: str) -> str:
    return f"apikey:v1:{prefix}"


def api_key_cache_get(prefix: str) -> dict | None:
    return cache.get(_cache_key(prefix))


def api_key_cache_put(key, digest: str) -> None:
    """Remember a verified key; never past its expiry, never longer than the configured TTL."""
    ttl = settings.API_KEY_CACHE_SECONDS
    if key.expires_at is not None:
        ttl = min(ttl, int((key.expires_at - timezone.now()).total_seconds()))
    if ttl <= 0:
        return
    cache.set(
        _cache_key(key.prefix),
        {
            "id": key.pk,
            "public_id": key.public_id,
            "workspace_id": key.workspace_id,
            "role": key.role,
            "environment": key.environment,
            "name": key.name,
            "expires_at": key.expires_at.timestamp() if key.expires_at else None,
            "digest": digest,
        },
        timeout=ttl,
    )


def api_key_cache_forget(key) -> None:
    """Drop the entry once the surrounding transaction commits (and now, if there is none)."""
    transaction.on_commit(lambda: cache.delete(_cache_key(key.prefix)))


def api_key_from_entry(prefix: str, entry: dict):
    from workspaces.models import ApiKey

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


def api_key_touch_allowed(key_id: int) -> bool:
    """True at most once a minute per key: the caller then writes ``last_used_at``."""
    return cache.add(f"apikey:v1:used:{key_id}", 1, timeout=60)
