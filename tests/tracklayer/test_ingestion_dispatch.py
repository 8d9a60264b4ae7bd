"""The ingestion views answer POST and OPTIONS without DRF's dispatch (IngestApi.dispatch).

Each request below goes, as raw WSGI through the production ingestion handler, once with the
views' own dispatch and once with DRF's (``APIView.dispatch``, as before issue 17): status,
headers and body must be the same bytes. Requests DRF must still decide (another method, a
``?format=``, an ``Accept`` that is not plainly JSON) are among them.
"""

import pytest
from django.core import signals
from django.db import close_old_connections
from rest_framework.views import APIView

from destinations.ingestion import api
from destinations.ingestion.api import IngestApi
from destinations.models import Event
from tests.tracklayer.test_lean_ingestion import call, event
from tracklayer.serving.ingestion import IngestionHandler
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
def handler():
    return IngestionHandler()


@pytest.fixture
def token(workspace, make_api_key):
    return make_api_key(workspace, role=ApiKeyRole.WRITE)[1]


@pytest.fixture
def through_drf(monkeypatch):
    """Call ``fn`` with the views dispatched by DRF, as before."""

    def run(fn):
        with monkeypatch.context() as patch:
            patch.setattr(IngestApi, "dispatch", APIView.dispatch)
            return fn()

    return run


def _key(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


REQUESTS = [
    pytest.param("POST", "/v1/track", event("m-x"), {}, 401, id="no key"),
    pytest.param("POST", "/v1/batch", b"{not json", "key", 400, id="invalid JSON"),
    pytest.param("POST", "/v1/batch", b'{"batch": []}', "key", 400, id="empty batch"),
    pytest.param("POST", "/v1/t", event("m-x", event=None), "key", 400, id="rejected event"),
    pytest.param(
        "POST",
        "/v1/track",
        event("m-x"),
        {"HTTP_AUTHORIZATION": "Bearer tl_live_nope"},
        401,
        id="malformed key",
    ),
    pytest.param(
        "POST",
        "/v1/track",
        event("m-x"),
        {"HTTP_AUTHORIZATION": "Basic !!!"},
        401,
        id="malformed Basic",
    ),
    pytest.param(
        "POST",
        "/v1/track",
        event("m-x"),
        {"HTTP_AUTHORIZATION": f"Bearer tl_live_{'a' * 12}_{'b' * 52}"},
        401,
        id="invalid key",
    ),
    pytest.param("OPTIONS", "/v1/track", b"", {}, 204, id="CORS preflight"),
    pytest.param("GET", "/v1/batch", b"", "key", 405, id="GET (DRF)"),
    pytest.param("PUT", "/v1/track", b"", "key", 405, id="PUT (DRF)"),
    pytest.param("POST", "/v1/track?format=xml", event("m-x"), "key", 404, id="format (DRF)"),
    pytest.param(
        "POST", "/v1/track", event("m-x"), {"HTTP_ACCEPT": "text/html"}, 406, id="Accept (DRF)"
    ),
    pytest.param(
        "POST",
        "/v1/track",
        b"{not json",
        {"HTTP_ACCEPT": "text/html, */*;q=0.8"},
        400,
        id="Accept with parameters (DRF)",
    ),
    pytest.param(
        "POST",
        "/v1/track",
        b"{not json",
        {"HTTP_ACCEPT": "text/plain, */*"},
        400,
        id="Accept with */*",
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "headers", "status"), REQUESTS)
def test_the_same_answer_as_through_drf(
    handler, through_drf, token, method, path, body, headers, status
):
    if headers == "key":
        headers = _key(token)
    ours = call(handler, method, path, body, **dict(headers))
    drf = through_drf(lambda: call(handler, method, path, body, **dict(headers)))
    assert int(drf[0].split()[0]) == status, drf
    assert ours == drf


def test_an_accepted_event_gets_the_same_answer_and_both_are_stored(
    handler, through_drf, token, workspace
):
    ours = call(handler, "POST", "/v1/track", event("m-ours"), **_key(token))
    drf = through_drf(lambda: call(handler, "POST", "/v1/track", event("m-drf"), **_key(token)))
    assert drf[0] == "200 OK"
    assert ours == drf
    assert ("Allow", "POST, OPTIONS") in ours[1]
    stored = Event.objects.for_workspace(workspace).values_list("message_id", flat=True)
    assert sorted(stored) == ["m-drf", "m-ours"]


def test_post_and_options_skip_drfs_request(handler, token, monkeypatch):
    wrapped = []
    real = APIView.initialize_request
    monkeypatch.setattr(
        APIView, "initialize_request", lambda *a, **k: wrapped.append(1) or real(*a, **k)
    )
    assert call(handler, "POST", "/v1/track", event("m-1"), **_key(token))[0] == "200 OK"
    assert call(handler, "OPTIONS", "/v1/track")[0].startswith("204")
    assert wrapped == []
    assert call(handler, "GET", "/v1/track", **_key(token))[0].startswith("405")
    assert wrapped == [1]


def test_negotiation_left_to_drf():
    class Request:
        def __init__(self, accept=None, query=""):
            self.META = {"QUERY_STRING": query}
            if accept is not None:
                self.META["HTTP_ACCEPT"] = accept

    assert api._negotiates_json(Request())
    assert api._negotiates_json(Request("application/json"))
    assert api._negotiates_json(Request("text/plain, */*"))
    assert not api._negotiates_json(Request("application/json; indent=4"))
    assert not api._negotiates_json(Request("text/html"))
    assert not api._negotiates_json(Request(query="format=json"))


def test_a_throttled_key_gets_the_same_answer_as_through_drf(handler, through_drf, settings):
    # No failure allowed from this address: 429 api_key_throttled with Retry-After (1 s, as no
    # window is open) and analytics.js's X-RateLimit-Reset, the CORS headers and Allow.
    settings.API_KEY_THROTTLE_PER_IP = 0
    headers = {"HTTP_AUTHORIZATION": f"Bearer tl_live_{'a' * 12}_{'b' * 52}"}
    ours = call(handler, "POST", "/v1/track", event("m-x"), **headers)
    drf = through_drf(lambda: call(handler, "POST", "/v1/track", event("m-x"), **headers))
    assert drf[0].startswith("429"), drf
    assert b'"api_key_throttled"' in drf[2]
    assert {"Retry-After", "X-RateLimit-Reset", "Allow", "Access-Control-Allow-Origin"} <= {
        name for name, _ in drf[1]
    }
    assert ours == drf
