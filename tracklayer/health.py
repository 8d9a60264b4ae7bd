"""Liveness and readiness probes (JSON, no authentication, no session)."""

import time

import redis
from django.conf import settings
from django.db import connections, transaction
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from tracklayer.regions import data_aliases


@transaction.non_atomic_requests
@never_cache
@require_GET
def healthz(request):
    """The process is up and serving."""
    return JsonResponse({"status": "ok"})


def _timed(check) -> dict:
    started = time.perf_counter()
    try:
        check()
    except Exception as error:
        return {"ok": False, "error": type(error).__name__}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}


def _database(alias: str):
    def check() -> None:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")

    return check


def _broker() -> None:
    client = redis.Redis.from_url(
        settings.CELERY_BROKER_URL, socket_connect_timeout=1, socket_timeout=1
    )
    try:
        client.ping()
    finally:
        client.close()


@transaction.non_atomic_requests
@never_cache
@require_GET
def readyz(request):
    """The control database, every region's database and the broker answer; 503 (with which
    one failed, by its alias — never its address) when one does not."""
    checks = {"database": _timed(_database("default"))}
    checks.update((alias, _timed(_database(alias))) for alias in data_aliases())
    checks["broker"] = _timed(_broker)
    ready = all(check["ok"] for check in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )
