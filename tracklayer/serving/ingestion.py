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

Two pieces of per-request work are done once here instead (issue 17; tests/tracklayer/
test_ingestion_lean_forms.py compares each with the work it replaces): the CSP headers, which
django-csp rebuilt from the settings for every answer (``IngestionCSPMiddleware``), and the
URL resolution of an ingestion path (``IngestionHandler.resolve_request``).
"""

import threading

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject, CSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.urls import ResolverMatch, get_resolver

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


# Middleware this path runs in a form that does the same work once instead of per request.
LEAN_FORMS = {"csp.middleware.CSPMiddleware": "tracklayer.serving.ingestion.IngestionCSPMiddleware"}


def ingestion_middleware() -> list[str]:
    return [path for path in settings.MIDDLEWARE if path in INGESTION_MIDDLEWARE]


# What a view or decorator of django-csp sets on a response to change or drop its policy.
_CSP_RESPONSE_PARTS = (
    *("_csp_config", "_csp_update", "_csp_replace", "_csp_exempt"),
    *("_csp_config_ro", "_csp_update_ro", "_csp_replace_ro", "_csp_exempt_ro"),
)
_csp_headers: list[tuple[str, str, tuple[str, ...]]] | None = None
# Bumped by each change of the policy's settings: a policy built while they changed (another
# thread's override_settings) is used for its own answer but not kept. The lock makes the check
# and the store one step against the signal's bump; only a rebuild takes it.
_csp_generation = 0
_csp_lock = threading.Lock()


@receiver(setting_changed)
def _csp_settings_changed(*, setting, **kwargs):
    global _csp_headers, _csp_generation
    if setting.startswith("CONTENT_SECURITY_POLICY"):
        with _csp_lock:
            _csp_generation += 1
            _csp_headers = None


def _settings_csp_headers() -> list[tuple[str, str, tuple[str, ...]]]:
    """(header, policy, excluded path prefixes) of the settings' policies, built once by
    django-csp's own ``build_policy`` (they depend on the settings alone)."""
    global _csp_headers
    headers = _csp_headers
    if headers is None:
        generation = _csp_generation
        headers = []
        for header, name, report_only in (
            (HEADER, "CONTENT_SECURITY_POLICY", False),
            (HEADER_REPORT_ONLY, "CONTENT_SECURITY_POLICY_REPORT_ONLY", True),
        ):
            policy = build_policy(report_only=report_only)
            if policy:
                prefixes = (getattr(settings, name, None) or {}).get("EXCLUDE_URL_PREFIXES")
                headers.append((header, policy, tuple(prefixes or ())))
        with _csp_lock:
            if generation == _csp_generation:
                _csp_headers = headers
    return headers


class IngestionCSPMiddleware(CSPMiddleware):
    """django-csp's middleware with the policy built once: an ingestion answer has no nonce
    and no per-view policy, so its headers are the settings' policies, which django-csp
    rebuilt from the settings on every response (a tenth of the request's CPU). An answer
    that has a nonce or a view's own policy, or one DEBUG exempts, goes through django-csp."""

    def process_response(self, request, response):
        if getattr(request, "_csp_nonce", None) is not None or any(
            hasattr(response, name) for name in _CSP_RESPONSE_PARTS
        ):
            return super().process_response(request, response)
        if response.status_code in (500, 404) and settings.DEBUG:
            return response
        for header, policy, prefixes in _settings_csp_headers():
            if header not in response and not request.path_info.startswith(prefixes):
                response[header] = policy
        # As django-csp: a nonce asked for after the header is written is an error.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)
        return response


class IngestionHandler(WSGIHandler):
    """Django's WSGI handler with ``ingestion_middleware()`` (in their ``LEAN_FORMS``) instead
    of the full list, and each ingestion path's URL resolved once."""

    def load_middleware(self, is_async=False):
        # BaseHandler.load_middleware reads settings.MIDDLEWARE and nothing else; it runs once,
        # when the handler is built (at import of tracklayer.wsgi, before any request).
        everything = settings.MIDDLEWARE
        settings.MIDDLEWARE = [LEAN_FORMS.get(path, path) for path in ingestion_middleware()]
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = everything
        self._matches = {}

    def resolve_request(self, request):
        """Django's, with the match of an ingestion path kept per URLconf resolver (at most
        one per path in ``INGESTION_PATHS``: no request's data is kept); each request gets a
        copy of it, as it got a match of its own."""
        path = request.path_info
        if path not in INGESTION_PATHS or hasattr(request, "urlconf"):
            return super().resolve_request(request)
        resolver = get_resolver()  # a new one whenever the URLconf changes (clear_url_caches)
        found = self._matches.get(path)
        if found is None or found[0] is not resolver:
            found = self._matches[path] = (resolver, resolver.resolve(path))
        # ResolverMatch refuses copy.copy (it refuses pickling): its attributes, in a new one,
        # and its containers copied — a view may change request.resolver_match's, and a
        # process_view gets its kwargs dict itself: no request may see another's changes.
        cached = found[1]
        match = ResolverMatch.__new__(ResolverMatch)
        match.__dict__.update(cached.__dict__)
        match.kwargs = {**cached.kwargs}
        match.app_names = [*cached.app_names]
        match.namespaces = [*cached.namespaces]
        if cached.captured_kwargs is not None:
            match.captured_kwargs = {**cached.captured_kwargs}
        if cached.extra_kwargs is not None:
            match.extra_kwargs = {**cached.extra_kwargs}
        if cached.tried is not None:
            match.tried = [[*entry] for entry in cached.tried]
        request.resolver_match = match
        return match


class IngestionDispatcher:
    """The WSGI application: ingestion paths to ``ingestion``, the rest to ``everything``."""

    def __init__(self, everything, ingestion=None):
        self.everything = everything
        self.ingestion = ingestion or IngestionHandler()

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") in INGESTION_PATHS:
            return self.ingestion(environ, start_response)
        return self.everything(environ, start_response)
