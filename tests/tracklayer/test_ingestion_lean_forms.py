"""The lean ingestion handler's own forms of Django's work (tracklayer/serving/ingestion.py):
django-csp's policy built once, and each ingestion path's URL resolved once. Their answers
must stay what django-csp and Django's resolver give, whatever the settings say."""

import pytest
from csp.middleware import CSPMiddleware
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import path as route

from tests.tracklayer.test_lean_ingestion import _keep_the_test_transaction, call, event
from tracklayer.serving.ingestion import (
    INGESTION_PATHS,
    IngestionCSPMiddleware,
    IngestionHandler,
)
from workspaces.models import ApiKeyRole

pytestmark = pytest.mark.django_db


@pytest.fixture
def token(workspace, make_api_key):
    return make_api_key(workspace, role=ApiKeyRole.WRITE)[1]


OTHER_POLICY = {
    "DIRECTIVES": {"default-src": ["'self'"], "img-src": ["https://cdn.example"]},
    "EXCLUDE_URL_PREFIXES": ["/v1/b"],
}
REPORT_ONLY = {"DIRECTIVES": {"script-src": ["'none'"], "report-uri": "/csp-report"}}


def answers(get_response, path="/v1/track", **request_attributes):
    both = []
    for middleware in (CSPMiddleware(get_response), IngestionCSPMiddleware(get_response)):
        copy = RequestFactory().post(path)
        copy.__dict__.update(request_attributes)
        middleware.process_request(copy)
        response = middleware.process_response(copy, get_response(copy))
        both.append(sorted(response.items()))
    return both


@pytest.mark.parametrize("path", ["/v1/track", "/v1/batch", "/v1/b"])
def test_the_policy_follows_the_settings(settings, path):
    for policy, report_only in ((None, None), (OTHER_POLICY, None), (OTHER_POLICY, REPORT_ONLY)):
        if policy is not None:
            settings.CONTENT_SECURITY_POLICY = policy
        if report_only is not None:
            settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = report_only
        django_csp, lean = answers(lambda request: HttpResponse(b"{}"), path)
        assert lean == django_csp, (policy, report_only)
        assert any(name == "Content-Security-Policy" for name, _ in lean) == (
            not path.startswith("/v1/b") or policy is None
        )


def test_a_view_policy_a_nonce_or_an_existing_header_is_left_to_django_csp():
    def per_view(**attributes):
        def get_response(request):
            response = HttpResponse(b"{}")
            for name, value in attributes.items():
                setattr(response, name, value)
            return response

        return get_response

    for get_response in (
        per_view(_csp_update={"img-src": ["https://x.example"]}),
        per_view(_csp_replace={"default-src": ["'self'"]}),
        per_view(_csp_config={"default-src": ["'none'"]}),
        per_view(_csp_exempt=True),
        per_view(_csp_update_ro={"img-src": ["https://x.example"]}),
    ):
        django_csp, lean = answers(get_response)
        assert lean == django_csp

    def with_header(request):
        response = HttpResponse(b"{}")
        response["Content-Security-Policy"] = "default-src 'self'"
        return response

    django_csp, lean = answers(with_header)
    assert lean == django_csp
    django_csp, lean = answers(lambda request: HttpResponse(b"{}"), _csp_nonce="abc")
    assert lean == django_csp


def test_a_nonce_asked_for_after_the_answer_is_refused_as_django_csp_does():
    request = RequestFactory().post("/v1/track")
    middleware = IngestionCSPMiddleware(lambda request: HttpResponse(b"{}"))
    middleware.process_request(request)
    middleware.process_response(request, HttpResponse(b"{}"))
    with pytest.raises(Exception, match="csp_nonce"):
        str(request.csp_nonce)


def test_each_request_gets_its_own_match_of_the_path():
    handler = IngestionHandler()
    for path in sorted(INGESTION_PATHS):
        first = handler.resolve_request(RequestFactory().post(path))
        second = handler.resolve_request(RequestFactory().post(path))
        fresh = handler.__class__.__mro__[1].resolve_request(handler, RequestFactory().post(path))
        assert first is not second
        assert vars(first) == vars(second)
        assert (first.func, first.url_name, first.route, first.kwargs) == (
            fresh.func,
            fresh.url_name,
            fresh.route,
            fresh.kwargs,
        )


# This module is also a URLconf: /v1/track answers a constant.
urlpatterns = [route("v1/track", lambda request: HttpResponse(b"another URLconf"))]


@pytest.mark.usefixtures(_keep_the_test_transaction.__name__)
def test_another_urlconf_is_resolved_afresh(settings, token):
    handler = IngestionHandler()
    key = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert call(handler, "POST", "/v1/track", event("m-1"), **key)[0] == "200 OK"
    settings.ROOT_URLCONF = __name__
    assert call(handler, "POST", "/v1/track", event("m-2"), **key)[2] == b"another URLconf"
    settings.ROOT_URLCONF = "tracklayer.urls"
    assert b'"accepted":1' in call(handler, "POST", "/v1/track", event("m-3"), **key)[2]


def test_no_ingestion_view_runs_in_the_request_transaction():
    """ATOMIC_REQUESTS is on for the control plane; the ingestion views opt out (their events
    are committed by the group-commit writer, ADR 0008)."""
    handler = IngestionHandler()
    for path in sorted(INGESTION_PATHS):
        view = handler.resolve_request(RequestFactory().post(path)).func
        assert handler.make_view_atomic(view) is view, path
