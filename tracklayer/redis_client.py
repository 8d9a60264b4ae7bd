"""One Redis client per process for the hot paths (API key cache, rate limits): the shared
Redis of the cache settings, without Django's cache layer (pickling, key functions)."""

import threading

import redis
from django.conf import settings

_client: redis.Redis | None = None
_lock = threading.Lock()


def redis_client() -> redis.Redis:
    global _client
    if _client is None:
        with _lock:
            if _client is None:
                _client = redis.Redis.from_url(
                    settings.CACHES["default"]["LOCATION"],
                    socket_connect_timeout=2,
                    socket_timeout=2,
                    health_check_interval=30,
                )
    return _client


def key_prefix() -> str:
    return settings.CACHES["default"].get("KEY_PREFIX", "tl")
