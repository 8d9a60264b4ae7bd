"""The shared cache of verified API keys (Redis, so every process sees a revocation at once).

An entry lives under the key's prefix and holds the keyed digest of the secret that was
verified with bcrypt, the id of the key that made the digest, and what authentication needs
(workspace, role, expiry). A request whose secret has the same digest under the same key is
authenticated without bcrypt and without the database. An entry that does not match is never
the last word: the database and bcrypt decide (behind the failed-attempt throttle), and a
success replaces the entry — so a ``SECRET_KEY`` rotation costs one bcrypt per key, not five
minutes of refusals. Revoking or rotating a key deletes its entry when the change commits.
See docs/adr/0003-api-key-verification-cache.md.

This is on every API request's path, so it talks to Redis through one long-lived client per
process (Django's cache API builds a client per call) and stores JSON, never pickles.
"""

import datetime as dt
import hmac
import time

import orjson
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from tracklayer.redis_client import key_prefix, redis_client
from workspaces import keys
from workspaces.models import ApiKey

# key id → monotonic time of this process's last ``last_used_at`` claim
_touched: dict[int, float] = {}
TOUCH_INTERVAL = 60.0
_redis = redis_client


def _namespace() -> str:
    return f"{key_prefix()}:apikey:v2"


def _cache_key(prefix: str) -> str:
    return f"{_namespace()}:{prefix}"


def touch_claim_key(key_id: int) -> str:
    return f"{_namespace()}:used:{key_id}"


def api_key_cache_get(prefix: str) -> dict | None:
    raw = _redis().get(_cache_key(prefix))
    return None if raw is None else orjson.loads(raw)


def api_key_cache_put(key, digest: str) -> None:
    """Remember a verified key; never past its expiry, never longer than the configured TTL."""
    ttl = settings.API_KEY_CACHE_SECONDS
    if key.expires_at is not None:
        ttl = min(ttl, int((key.expires_at - timezone.now()).total_seconds()))
    if ttl <= 0:
        return
    entry = {
        "id": key.pk,
        "public_id": key.public_id,
        "workspace_id": key.workspace_id,
        "role": key.role,
        "environment": key.environment,
        "name": key.name,
        "expires_at": key.expires_at.timestamp() if key.expires_at else None,
        "digest": digest,
        "digest_key_id": keys.digest_key_id(),
    }
    _redis().set(_cache_key(key.prefix), orjson.dumps(entry), ex=ttl)


def api_key_cache_matches(entry: dict, *, environment: str, digest: str) -> bool:
    """True when ``entry`` vouches for a presented secret with this digest; False sends the
    caller to the database (never to a refusal)."""
    return (
        entry.get("environment") == environment
        and entry.get("digest_key_id") == keys.digest_key_id()
        and hmac.compare_digest(entry.get("digest", ""), digest)
    )


def api_key_cache_forget(key) -> None:
    """Drop the entry once the surrounding transaction commits (and now, if there is none)."""
    transaction.on_commit(lambda: _redis().delete(_cache_key(key.prefix)))


def api_key_from_entry(prefix: str, entry: dict):
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
    """True at most once a minute per key across all processes: the caller then writes
    ``last_used_at``. Each process asks Redis at most once a minute per key, so the common
    case costs no round trip."""
    now = time.monotonic()
    if now - _touched.get(key_id, -TOUCH_INTERVAL) < TOUCH_INTERVAL:
        return False
    _touched[key_id] = now
    return bool(_redis().set(touch_claim_key(key_id), b"1", nx=True, ex=int(TOUCH_INTERVAL)))
