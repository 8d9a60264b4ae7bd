"""Review of the lean ingestion forms (tracklayer/serving/ingestion.py): what one request does
to its URL match stays with that request, and django-csp's policy built once never outlives a
change of the settings it was built from, even when the change lands while it is being built."""

import threading

import pytest
from csp.middleware import CSPMiddleware
from django.http import HttpResponse
from django.test import RequestFactory, override_settings
from django.urls import ResolverMatch

from tracklayer.serving import ingestion
from tracklayer.serving.ingestion import (
    INGESTION_PATHS,
    IngestionCSPMiddleware,
    IngestionHandler,
)

MUTABLE = ("kwargs", "captured_kwargs", "extra_kwargs", "app_names", "namespaces", "tried")


def _mutate(match: ResolverMatch) -> None:
    """What a view, or a middleware's process_view (it gets ``kwargs`` itself), may do."""
    match.kwargs["leaked"] = "from an earlier request"
    for name in ("captured_kwargs", "extra_kwargs"):
        if isinstance(getattr(match, name), dict):
            getattr(match, name)["leaked"] = True
    match.app_names.append("leaked")
    match.namespaces.append("leaked")
    if isinstance(match.tried, list):
        match.tried.append(["leaked"])
        for entry in match.tried[:-1]:
            entry.append("leaked")


def test_a_request_mutating_its_match_leaves_the_next_requests_alone():
    handler = IngestionHandler()
    fresh = IngestionHandler.__mro__[1].resolve_request
    for path in sorted(INGESTION_PATHS):
        _mutate(handler.resolve_request(RequestFactory().post(path)))
        _mutate(handler.resolve_request(RequestFactory().post(path)))
        after = handler.resolve_request(RequestFactory().post(path))
        expected = fresh(handler, RequestFactory().post(path))
        for name in MUTABLE:
            assert getattr(after, name) == getattr(expected, name), (path, name)


def test_each_match_owns_its_mutable_parts():
    handler = IngestionHandler()
    for path in sorted(INGESTION_PATHS):
        first = handler.resolve_request(RequestFactory().post(path))
        second = handler.resolve_request(RequestFactory().post(path))
        for name in MUTABLE:
            value = getattr(first, name)
            if isinstance(value, (dict, list)):
                assert value is not getattr(second, name), (path, name)


NEW_POLICY = {"DIRECTIVES": {"default-src": ["'self'"], "img-src": ["https://new.example"]}}


def _answer(middleware_class, path="/v1/track"):
    request = RequestFactory().post(path)
    middleware = middleware_class(lambda request: HttpResponse(b"{}"))
    middleware.process_request(request)
    return sorted(middleware.process_response(request, HttpResponse(b"{}")).items())


def test_a_setting_changed_while_the_policy_is_built_is_not_lost(monkeypatch):
    """Thread A builds the policy from the old settings; thread B changes them (the signal
    drops the cache) before A stores what it built: A's stale policy must not be kept."""
    monkeypatch.setattr(ingestion, "_csp_headers", None)
    original = ingestion.build_policy
    changed = threading.Event()
    override = override_settings(CONTENT_SECURITY_POLICY=NEW_POLICY)

    def build_then_change(*args, **kwargs):
        policy = original(*args, **kwargs)
        if not changed.is_set():
            changed.set()
            # The other thread's override, while this build is still in flight.
            thread = threading.Thread(target=override.enable)
            thread.start()
            thread.join()
        return policy

    monkeypatch.setattr(ingestion, "build_policy", build_then_change)
    try:
        _answer(IngestionCSPMiddleware)  # built from the old settings, changed meanwhile
        assert _answer(IngestionCSPMiddleware) == _answer(CSPMiddleware)
    finally:
        if changed.is_set():
            override.disable()
    assert _answer(IngestionCSPMiddleware) == _answer(CSPMiddleware)


@pytest.mark.parametrize("path", ["/v1/track", "/v1/b"])
def test_override_settings_rebuilds_the_policy_and_restores_it(path):
    before = _answer(IngestionCSPMiddleware, path)
    assert before == _answer(CSPMiddleware, path)
    with override_settings(CONTENT_SECURITY_POLICY=NEW_POLICY):
        inside = _answer(IngestionCSPMiddleware, path)
        assert inside == _answer(CSPMiddleware, path)
        assert inside != before
    assert _answer(IngestionCSPMiddleware, path) == before
