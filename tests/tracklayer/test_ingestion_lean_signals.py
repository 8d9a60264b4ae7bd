"""The lean ingestion handler runs the request signals' stock receivers itself
(tracklayer/serving/ingestion.py: ``_STARTED``, ``_FINISHED``). The connection hygiene must stay
Django's: a connection left in a transaction, past its CONN_MAX_AGE or with errors is closed or
checked at the request's end (and at the next one's start), the query log is reset; any other
receiver, or a missing stock one, sends the signals as Django does."""

import hashlib
import inspect
import time

import pytest
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections, connection
from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.test import RequestFactory
from django.urls import clear_url_caches
from django.urls import path as route
from django.views.decorators.csrf import csrf_exempt

from tests.tracklayer.test_lean_ingestion import call
from tracklayer.serving import ingestion
from tracklayer.serving.ingestion import IngestionHandler

SEEN: dict = {}


@csrf_exempt
def _left_in_a_transaction(request):
    connection.ensure_connection()
    connection.set_autocommit(False)
    return HttpResponse(b"left")


@csrf_exempt
def _past_its_age(request):
    connection.ensure_connection()
    connection.close_at = time.monotonic() - 1
    return HttpResponse(b"old")


@csrf_exempt
def _look(request):
    SEEN["open"] = connection.connection is not None
    SEEN["queries"] = list(connection.queries_log)
    connection.ensure_connection()
    return HttpResponse(b"looked")


# Not in the request's transaction (ATOMIC_REQUESTS), as the ingestion views.
for _view in (_left_in_a_transaction, _past_its_age, _look):
    _view._non_atomic_requests = {"default"}

# This module is the URLconf of these tests: three ingestion paths, three views.
urlpatterns = [
    route("v1/track", _left_in_a_transaction),
    route("v1/page", _past_its_age),
    route("v1/identify", _look),
    route("v1/screen", csrf_exempt(lambda request: HttpResponse(b"plain"))),
]


@pytest.fixture
def handlers(settings):
    settings.ROOT_URLCONF = __name__
    return {"full": WSGIHandler(), "lean": IngestionHandler()}


@pytest.fixture(autouse=True)
def _stock_receivers():
    """Django's receivers in Django's order: its test client disconnects and reconnects
    close_old_connections around each request, which moves it to the end of the list (the
    lean handler then sends the signals, as it does for any other list)."""
    for signal, stock in (
        (signals.request_started, ingestion._STARTED),
        (signals.request_finished, ingestion._FINISHED),
    ):
        receivers = [reference() for _, reference, _ in stock]
        for function in receivers:
            signal.disconnect(function)
        for function in receivers:
            signal.connect(function)


@pytest.fixture
def unsent(monkeypatch):
    """Fails a test that sends a request signal: the lean handler calls the receivers itself."""
    sent = []
    for signal in (signals.request_started, signals.request_finished):
        monkeypatch.setattr(signal, "send", lambda *args, **kwargs: sent.append(kwargs))
    yield
    assert sent == []


def test_the_request_signals_have_only_djangos_receivers():
    """A Django upgrade or a library adding one sends the signals on the lean path again
    (correct, but the saving is gone): this test says so."""
    assert signals.request_started.receivers == ingestion._STARTED
    assert signals.request_finished.receivers == ingestion._FINISHED


def test_the_copied_django_code_is_unchanged():
    """IngestionHandler.__call__ and _close copy WSGIHandler.__call__ and
    HttpResponseBase.close: a Django upgrade changing either must be looked at."""
    digests = {
        name: hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16]
        for name, function in (
            ("WSGIHandler.__call__", WSGIHandler.__call__),
            ("HttpResponseBase.close", HttpResponseBase.close),
        )
    }
    assert digests == PINNED


PINNED = {
    "WSGIHandler.__call__": "8391f497d588b2a0",
    "HttpResponseBase.close": "84589f5b23acbb23",
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("unsent")
@pytest.mark.parametrize("path", ["/v1/track", "/v1/page"])
def test_a_connection_left_in_a_transaction_or_too_old_is_closed_at_the_end(handlers, path):
    assert call(handlers["lean"], "POST", path)[0] == "200 OK"
    assert connection.connection is None, path
    assert connection.get_autocommit()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/v1/track", "/v1/page"])
def test_the_full_handler_does_the_same(handlers, path):
    assert call(handlers["full"], "POST", path)[0] == "200 OK"
    assert connection.connection is None, path


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("unsent")
def test_the_next_request_starts_with_old_connections_closed_and_no_query_log(handlers):
    connection.ensure_connection()
    connection.close_at = time.monotonic() - 1
    connection.queries_log.append({"sql": "SELECT 'an earlier request'", "time": "0"})
    assert call(handlers["lean"], "POST", "/v1/identify")[2] == b"looked"
    assert SEEN == {"open": False, "queries": []}
    # A usable, young connection stays open across requests (CONN_MAX_AGE).
    connection.close_at = time.monotonic() + 60
    assert call(handlers["lean"], "POST", "/v1/identify")[2] == b"looked"
    assert SEEN["open"] is True
    assert connection.connection is not None


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("unsent")
def test_a_connection_with_errors_is_checked_at_the_end(handlers, monkeypatch):
    @csrf_exempt
    def broken(request):
        connection.ensure_connection()
        connection.errors_occurred = True
        monkeypatch.setattr(connection, "is_usable", lambda: False)
        return HttpResponse(b"broken")

    broken._non_atomic_requests = {"default"}
    monkeypatch.setitem(globals(), "urlpatterns", [route("v1/t", broken)])
    clear_url_caches()
    try:
        assert call(handlers["lean"], "POST", "/v1/t")[2] == b"broken"
    finally:
        clear_url_caches()
    assert connection.connection is None


@pytest.mark.django_db(transaction=True)
def test_another_receiver_gets_the_signals_with_djangos(handlers):
    heard = []

    def listener(sender, **kwargs):
        heard.append((sender, sorted(kwargs)))

    signals.request_started.connect(listener)
    signals.request_finished.connect(listener)
    try:
        assert call(handlers["lean"], "POST", "/v1/track")[0] == "200 OK"
    finally:
        signals.request_started.disconnect(listener)
        signals.request_finished.disconnect(listener)
    assert heard == [
        (IngestionHandler, ["environ", "signal"]),
        (IngestionHandler, ["signal"]),
    ]
    assert connection.connection is None  # and Django's receivers ran with it


@pytest.mark.django_db
def test_a_disconnected_stock_receiver_stays_disconnected(handlers):
    """As Django's test client does to keep the test's transaction: the lean handler must not
    close the connection either."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        assert call(handlers["lean"], "POST", "/v1/identify")[2] == b"looked"
        assert connection.connection is not None
        assert connection.in_atomic_block
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.mark.django_db
@pytest.mark.usefixtures("unsent")
def test_the_answer_is_closed_as_django_closes_it(handlers):
    closed = []
    environ = RequestFactory().post("/v1/screen").environ
    result = handlers["lean"](environ, lambda status, headers, exc_info=None: None)
    assert b"".join(result) == b"plain"
    result._resource_closers.append(lambda: closed.append("first"))
    result._resource_closers.append(lambda: 1 / 0)
    result._resource_closers.append(lambda: closed.append("after a failing one"))
    assert "close" in vars(result)
    result.close()
    assert closed == ["first", "after a failing one"]
    assert result.closed
    assert result._resource_closers == []
    assert "close" not in vars(result)  # the handler's closure is gone: no reference cycle


@pytest.mark.django_db(transaction=True)
def test_the_answers_are_the_full_stacks_with_the_receivers_called_directly(
    workspace, make_api_key, monkeypatch
):
    """test_lean_ingestion.py's equality, with Django's receivers connected (its fixture
    disconnects one, so the lean handler sends the signals there)."""
    from tests.tracklayer.test_lean_ingestion import event
    from workspaces.models import ApiKeyRole

    token = make_api_key(workspace, role=ApiKeyRole.WRITE)[1]
    full, lean = WSGIHandler(), IngestionHandler()
    key = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    answers = {}
    for name, handler in (("full", full), ("lean", lean)):
        answers[name] = [
            call(handler, "POST", "/v1/track", event(f"m-{name}"), **key),
            call(handler, "POST", "/v1/track", event(f"m-{name}"), **key),  # its duplicate
            call(handler, "POST", "/v1/track", event("m-x")),  # no key
            call(handler, "OPTIONS", "/v1/track"),
            call(handler, "POST", "/v1/batch", b"{not json", **key),
        ]
        assert connection.connection is None or connection.get_autocommit()
    sent = []
    for signal in (signals.request_started, signals.request_finished):
        monkeypatch.setattr(signal, "send", lambda *args, **kwargs: sent.append(kwargs))
    again = call(lean, "POST", "/v1/track", event("m-lean"), **key)
    assert sent == []
    assert answers["lean"][0][0] == "200 OK"
    assert answers["lean"] == answers["full"]
    assert again == answers["lean"][1]
