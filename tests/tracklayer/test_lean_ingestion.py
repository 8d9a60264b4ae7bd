"""The lean ingestion path (tracklayer/serving/ingestion.py, ADR 0019).

The production WSGI application hands the ingestion paths to a handler without the dashboard's
middleware. Each request below goes, as raw WSGI, through that handler and through Django's
full handler (``settings.MIDDLEWARE``): status, headers and body must be the same bytes — the
error envelope, the size cap, the NUL guard, the key check, CORS and the security headers. The
lean path never opens a session, even with a signed-in user's cookie.
"""

import gzip

import orjson
import pytest
from django.conf import settings
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections, connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import get_resolver

from destinations.ingestion.api import IngestApi
from destinations.models import Event
from tracklayer import wsgi
from tracklayer.serving.ingestion import (
    INGESTION_PATHS,
    IngestionDispatcher,
    IngestionHandler,
    ingestion_middleware,
)
from workspaces.models import ApiKeyRole

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _keep_the_test_transaction():
    """As Django's test client does: a request must not close the test's connection."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture(scope="module")
def handlers():
    return {"full": WSGIHandler(), "lean": IngestionHandler()}


@pytest.fixture
def token(workspace, make_api_key):
    return make_api_key(workspace, role=ApiKeyRole.WRITE)[1]


def call(app, method: str, path: str, body: bytes = b"", **headers):
    """(status line, headers, body) of a WSGI request to ``app``."""
    environ = (
        RequestFactory()
        .generic(
            method,
            path,
            body,
            content_type=headers.pop("content_type", "application/json"),
            **headers,
        )
        .environ
    )
    answer = {}

    def start_response(status, response_headers, exc_info=None):
        answer["status"], answer["headers"] = status, response_headers

    result = app(environ, start_response)
    try:
        content = b"".join(result)
    finally:
        result.close()
    return answer["status"], answer["headers"], content


def event(message_id: str, **extra) -> bytes:
    return orjson.dumps(
        {
            "type": "track",
            "event": "Order Completed",
            "anonymousId": "anon-1",
            "messageId": message_id,
            "properties": {"value": 10},
            **extra,
        }
    )


def test_the_lean_middleware_is_the_api_part_of_the_full_list():
    assert ingestion_middleware() == [
        "django.middleware.security.SecurityMiddleware",
        "django.middleware.common.CommonMiddleware",
        "tracklayer.nul_guard.RefuseNulMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
        "csp.middleware.CSPMiddleware",
    ]
    assert set(ingestion_middleware()) < set(settings.MIDDLEWARE)


def test_the_ingestion_paths_are_exactly_the_ingestion_views():
    routes = {}
    for pattern in get_resolver().url_patterns:
        if str(pattern.pattern) == "v1/":
            for route in pattern.url_patterns:
                view = getattr(route.callback, "view_class", None)
                routes[f"/v1/{route.pattern}"] = view
    ingest = {path for path, view in routes.items() if view and issubclass(view, IngestApi)}
    assert ingest == INGESTION_PATHS


def test_production_application_dispatches_by_path():
    assert isinstance(wsgi.application, IngestionDispatcher)
    seen = []

    def app(name):
        return lambda environ, start_response: seen.append(name) or []

    dispatcher = IngestionDispatcher(app("full"), app("lean"))
    for path in ["/v1/track", "/v1/b", "/v1/events", "/v1/track/", "/v1/events/m-1", "/v1/whoami"]:
        dispatcher({"PATH_INFO": path}, None)
    assert seen == ["lean", "lean", "lean", "full", "full", "full"]


SAME_ANSWERS = [
    pytest.param("POST", "/v1/track", event("m-1"), {}, 401, id="no key"),
    pytest.param(
        "POST",
        "/v1/track",
        event("m-1"),
        {"HTTP_AUTHORIZATION": "Bearer tl_live_nope"},
        401,
        id="wrong key",
    ),
    pytest.param("POST", "/v1/batch", b"{not json", "key", 400, id="invalid JSON"),
    pytest.param("POST", "/v1/batch", b'{"batch": []}', "key", 400, id="empty batch"),
    pytest.param("POST", "/v1/track?x=%00", event("m-1"), "key", 400, id="NUL in the query"),
    pytest.param(
        "POST", "/v1/t", event("m-1", event="Order\x00Completed"), "key", 400, id="NUL in a field"
    ),
    pytest.param(
        "POST",
        "/v1/events",
        event("m-1"),
        {"HTTP_CONTENT_ENCODING": "br"},
        400,
        id="unsupported encoding",
    ),
    pytest.param(
        "POST",
        "/v1/track",
        event("m-1"),
        {"HTTP_HOST": "evil.example"},
        400,
        id="host not allowed",
    ),
    pytest.param("OPTIONS", "/v1/track", b"", {}, 204, id="CORS preflight"),
    pytest.param("GET", "/v1/batch", b"", "key", 405, id="GET"),
]


@pytest.mark.parametrize(("method", "path", "body", "headers", "status"), SAME_ANSWERS)
def test_both_paths_give_the_same_answer(handlers, token, method, path, body, headers, status):
    if headers == "key":
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    full = call(handlers["full"], method, path, body, **headers)
    lean = call(handlers["lean"], method, path, body, **headers)
    assert int(full[0].split()[0]) == status, full
    assert lean == full


def test_an_accepted_event_gets_the_same_answer_and_is_stored(handlers, token, workspace):
    key = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    full = call(handlers["full"], "POST", "/v1/track", event("m-full"), **key)
    lean = call(handlers["lean"], "POST", "/v1/track", event("m-lean"), **key)
    assert full[0] == "200 OK"
    assert lean == full
    stored = Event.objects.for_workspace(workspace).values_list("message_id", flat=True)
    assert sorted(stored) == ["m-full", "m-lean"]
    # The same message again: a duplicate on both paths alike.
    assert (
        call(handlers["lean"], "POST", "/v1/track", event("m-lean"), **key)[2]
        == (call(handlers["full"], "POST", "/v1/track", event("m-full"), **key)[2])
    )


def test_the_size_cap_answers_alike(handlers, token, settings):
    settings.INGEST_MAX_REQUEST_BYTES = 1000
    key = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    big = event("m-big", properties={"blob": "x" * 2000})
    zipped = gzip.compress(big)
    for body, headers in ((big, key), (zipped, {**key, "HTTP_CONTENT_ENCODING": "gzip"})):
        full = call(handlers["full"], "POST", "/v1/events", body, **headers)
        lean = call(handlers["lean"], "POST", "/v1/events", body, **headers)
        assert full[0].startswith("413"), full
        assert lean == full


def test_the_lean_path_opens_no_session(handlers, token, client, admin_user, workspace):
    client.force_login(admin_user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    key = {"HTTP_AUTHORIZATION": f"Bearer {token}", "HTTP_COOKIE": cookie}
    with CaptureQueriesContext(connection) as lean_queries:
        lean = call(handlers["lean"], "POST", "/v1/track", event("m-2"), **key)
    assert lean[0] == "200 OK"
    assert not [name for name, _ in lean[1] if name.lower() in ("set-cookie", "vary")]
    assert not [q for q in lean_queries if "django_session" in q["sql"]]


def test_the_lean_path_still_refuses_a_bad_request_the_same_way(handlers, token):
    """An answer of the lean path alone, checked field by field (not only against the other)."""
    status, headers, body = call(
        handlers["lean"],
        "POST",
        "/v1/track?q=%00",
        event("m-1"),
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert status.startswith("400")
    assert orjson.loads(body) == {
        "error": {
            "code": "nul_character",
            "message": "The query parameter 'q' contains a NUL character (\\u0000), "
            "which no value can hold.",
            "field": "q",
        }
    }
    # The guard answers before X-Frame-Options and CSP (after it in the list) run, as on the
    # full stack; SecurityMiddleware's headers are there.
    assert ("X-Content-Type-Options", "nosniff") in headers
    assert ("Content-Type", "application/json") in headers
