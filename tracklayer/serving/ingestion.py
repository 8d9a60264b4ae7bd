"""The lean ingestion path: ``/v1/`` ingestion requests skip the dashboard's middleware.

``tracklayer.wsgi`` hands the ingestion paths (``INGESTION_PATHS``: native ``/v1/events``,
Segment's ``/v1/track`` … ``/v1/batch``, ``/v1/import`` and analytics.js's one-letter paths) to
a second Django handler whose middleware is only what these views' answers depend on
(``INGESTION_MIDDLEWARE``); every other request goes through ``settings.MIDDLEWARE`` as before.
Sessions, CSRF, authentication, messages, htmx, allauth, WhiteNoise, the advisory key and the
dashboard's domain-error pages do nothing for an API request authenticated by its write key,
but each costs CPU on every request: docs/adr/0019-lean-ingestion-path.md, with the figures.

Kept, in ``settings.MIDDLEWARE``'s order: the security headers (HSTS, nosniff, referrer and
opener policy, X-Frame-Options, CSP) and the HTTPS redirect, ``CommonMiddleware`` (allowed
user agents, Content-Length), and the NUL guard. The views themselves keep the rest: the size
cap, the JSON error envelope, the key check, the rate limit. tests/tracklayer/
test_lean_ingestion.py proves both paths answer the same requests with the same bytes.
"""

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler

# The paths of tracklayer/api_urls.py served by destinations.ingestion.api.IngestApi's views
# (a test checks that the two lists agree). /v1/events/<message id> (a read) is not one.
INGESTION_PATHS = frozenset(
    f"/v1/{name}"
    for name in (
        "events",
        *("track", "identify", "page", "screen", "group", "alias", "batch", "import"),
        *("t", "i", "p", "s", "g", "a", "b"),
    )
)
# What an ingestion answer depends on; taken in settings.MIDDLEWARE's order, and only those
# settings.MIDDLEWARE has (this path never runs a middleware the full stack does not).
INGESTION_MIDDLEWARE = frozenset(
    {
        "django.middleware.security.SecurityMiddleware",
        "django.middleware.common.CommonMiddleware",
        "tracklayer.nul_guard.RefuseNulMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
        "csp.middleware.CSPMiddleware",
    }
)


def ingestion_middleware() -> list[str]:
    return [path for path in settings.MIDDLEWARE if path in INGESTION_MIDDLEWARE]


class IngestionHandler(WSGIHandler):
    """Django's WSGI handler with ``ingestion_middleware()`` instead of the full list."""

    def load_middleware(self, is_async=False):
        # BaseHandler.load_middleware reads settings.MIDDLEWARE and nothing else; it runs once,
        # when the handler is built (at import of tracklayer.wsgi, before any request).
        everything = settings.MIDDLEWARE
        settings.MIDDLEWARE = ingestion_middleware()
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = everything


class IngestionDispatcher:
    """The WSGI application: ingestion paths to ``ingestion``, the rest to ``everything``."""

    def __init__(self, everything, ingestion=None):
        self.everything = everything
        self.ingestion = ingestion or IngestionHandler()

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") in INGESTION_PATHS:
            return self.ingestion(environ, start_response)
        return self.everything(environ, start_response)
