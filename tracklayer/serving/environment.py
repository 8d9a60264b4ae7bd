"""What the production server needs from its environment, checked before anything starts.

``tracklayer/settings.py`` refuses a production start without ``SECRET_KEY`` or with an
incomplete ``REGION_DATABASES``, but it falls back to local defaults for the rest (a database
and a Redis on 127.0.0.1, no allowed host): right for a development checkout, wrong for a
server, which would start and then fail or answer 400 to every request. The server refuses to
start instead, naming every variable it is missing.
"""

import os
from collections.abc import Mapping

# Each variable the production server cannot do without, and what it is for.
REQUIRED = {
    "SECRET_KEY": "Django's signing key (sessions, CSRF, password resets)",
    "TRACKLAYER_KEYRING": "the keys that encrypt secrets at rest (id:base64 of 32 bytes, …)",
    "DATABASE_URL": "the control plane's PostgreSQL (postgres://…)",
    "REGION_DATABASES": "each region's PostgreSQL (us=postgres://…,eu=postgres://…)",
    "REDIS_URL": "cache, rate limits and the Celery broker (redis://…)",
    "ALLOWED_HOSTS": "the host names the server answers for (comma-separated)",
}
DEFAULT_HOST = "0.0.0.0"  # noqa: S104 — a server behind a load balancer listens on all
DEFAULT_PORT = "8000"


def check(environ: Mapping[str, str] = os.environ) -> None:
    """Exit (``SystemExit``: the message on stderr, status 1) naming every missing variable
    and a wrong ``TRACKLAYER_ENV``, ``PORT``, ``WEB_CONCURRENCY`` or ``WEB_THREADS``, before
    Django or gunicorn starts anything."""
    problems = []
    environment = environ.get("TRACKLAYER_ENV", "").strip() or "production"
    if environment != "production":
        problems.append(
            f"TRACKLAYER_ENV is {environment!r}: the production server runs only with "
            "TRACKLAYER_ENV=production (or unset); `make run` is the development stack"
        )
    missing = [name for name in REQUIRED if not environ.get(name, "").strip()]
    problems += [f"{name} is not set: {REQUIRED[name]}" for name in missing]
    port = environ.get("PORT", "").strip() or DEFAULT_PORT
    if not port.isdigit() or not 0 < int(port) < 65536:
        problems.append(f"PORT must be a TCP port number, not {port!r}")
    for name in ("WEB_CONCURRENCY", "WEB_THREADS"):
        value = environ.get(name, "").strip()
        if value and (not value.isdigit() or int(value) < 1):
            problems.append(f"{name} must be a whole number of at least 1, not {value!r}")
    if problems:
        raise SystemExit(
            "TrackLayer's production server cannot start:\n"
            + "\n".join(f"  - {problem}" for problem in problems)
            + "\nEvery variable is described in .env.example and the README."
        )


def bind(environ: Mapping[str, str] = os.environ) -> str:
    """gunicorn's address, from ``HOST`` and ``PORT``."""
    host = environ.get("HOST", "").strip() or DEFAULT_HOST
    port = environ.get("PORT", "").strip() or DEFAULT_PORT
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
