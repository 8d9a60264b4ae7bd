"""API key authentication with the verification cache warm (Redis hit) and cold (bcrypt)."""

import time
from dataclasses import dataclass
from unittest import mock

from django.conf import settings
from django.core.cache import cache

from workspaces import keys
from workspaces.actors import SystemActor
from workspaces.auth.api_keys import api_key_authenticate
from workspaces.services import api_key_create, workspace_create

ACTOR = SystemActor("bench")
# tracklayer/settings.py's default; tests/settings.py lowers it to 4 to keep tests fast.
PRODUCTION_BCRYPT_ROUNDS = 12
WARM_CALLS = 2000
COLD_CALLS = 20


@dataclass(frozen=True)
class AuthRun:
    latencies: list[float]
    seconds: float
    bcrypt_calls: int

    @property
    def per_second(self) -> float:
        return len(self.latencies) / self.seconds


def _authenticate(token: str, expected_pk: int, calls: int, *, clear_cache: bool) -> AuthRun:
    latencies = []
    with mock.patch.object(keys, "check_secret", wraps=keys.check_secret) as check_secret:
        for _ in range(calls):
            if clear_cache:
                cache.clear()  # Redis db 13 only (checked in __main__)
            started = time.perf_counter()
            key = api_key_authenticate(token)
            latencies.append(time.perf_counter() - started)
            if key.pk != expected_pk:
                raise RuntimeError("api_key_authenticate returned another key")
    return AuthRun(latencies, sum(latencies), check_secret.call_count)


def run() -> tuple[AuthRun, AuthRun, int]:
    """(warm, cold, bcrypt cost of the key's stored hash)."""
    settings.API_KEY_BCRYPT_ROUNDS = PRODUCTION_BCRYPT_ROUNDS  # before the key is hashed
    workspace = workspace_create(actor=ACTOR, name="bench api keys", owner=None)
    key, token = api_key_create(workspace=workspace, actor=ACTOR, name="bench")
    cost = int(key.secret_hash.split("$")[2])  # "$2b$12$…"

    cache.clear()
    api_key_authenticate(token)  # verify once with bcrypt, which fills the cache
    warm = _authenticate(token, key.pk, WARM_CALLS, clear_cache=False)
    cold = _authenticate(token, key.pk, COLD_CALLS, clear_cache=True)
    return warm, cold, cost
