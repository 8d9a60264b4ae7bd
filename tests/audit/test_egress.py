"""The checkpoint witness and the S3 endpoint go through the egress policy (finding 4): refused
in the settings form and the service, refused again at send time, and an endpoint's answer is
never shown to the user beyond its error code."""

from http.server import BaseHTTPRequestHandler

import pytest
from django.urls import reverse

from audit import export, services
from audit.forms import ExportConfigForm
from tests.audit.helpers import S3_SECRET, compliance_form, export_to_s3
from tracklayer import http

SSRF_URLS = [
    "https://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/",
    "http://[::1]:6379/",
    "http://localhost:5432/",
]
LEAK = "INTERNAL-ONLY-redis-6.2-at-10.9.8.7"


class Endpoint(BaseHTTPRequestHandler):
    """Stands for whatever listens at the address given: records each request and answers
    with an S3-style error whose message must never reach the user."""

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.server.seen.append((self.command, self.path))
        body = (
            b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code>'
            b"<Message>" + LEAK.encode() + b"</Message></Error>"
        )
        self.send_response(403)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_PUT = do_POST = do_GET = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def endpoint(serve_http):
    server = serve_http(Endpoint)
    server.url = f"http://127.0.0.1:{server.server_port}"
    return server


@pytest.fixture
def no_loopback(settings):
    settings.EGRESS_ALLOW_LOOPBACK = False  # production's default


def form_data(**values):
    s3 = {"target": "s3", "s3_bucket": "audit-bucket", "s3_access_key_id": "AKID"}
    return compliance_form(**{**s3, **values})


@pytest.mark.parametrize("field", ["witness_url", "s3_endpoint_url"])
@pytest.mark.parametrize("url", SSRF_URLS)
def test_the_form_refuses_inward_urls(no_loopback, field, url):
    form = ExportConfigForm(form_data(**{field: url}))

    assert not form.is_valid()
    [error] = form.errors.as_data()[field]
    assert error.code == "egress_refused"
    assert "TrackLayer sends only to public addresses" in error.message


@pytest.mark.parametrize("field", ["witness_url", "s3_endpoint_url"])
def test_the_form_refuses_a_bare_host_and_port(no_loopback, field):
    assert not ExportConfigForm(form_data(**{field: "localhost:5432"})).is_valid()


@pytest.mark.parametrize("field", ["witness_url", "s3_endpoint_url"])
@pytest.mark.parametrize("url", SSRF_URLS)
def test_the_service_refuses_inward_urls(workspace, admin_user, no_loopback, field, url):
    with pytest.raises(http.EgressRefused) as refused:
        export.audit_export_config_update(
            workspace=workspace, actor=admin_user, values={field: url}
        )

    assert refused.value.field == field and refused.value.code == "egress_refused"


def test_the_settings_page_names_the_refused_field(client, workspace, admin_user, no_loopback):
    client.force_login(admin_user)

    page = client.post(
        reverse("audit:compliance", args=[workspace.slug]),
        form_data(witness_url="https://169.254.169.254/latest/meta-data/"),
    )

    assert page.status_code == 400
    assert "is a link-local address" in page.content.decode()


def test_the_witness_is_refused_at_send_time(workspace, admin_user, endpoint, settings):
    """Saved while loopback was allowed (or while its name resolved outward): the worker's send
    checks again and does not POST."""
    export.audit_export_config_update(
        workspace=workspace, actor=admin_user, values={"witness_url": f"{endpoint.url}/cp"}
    )
    checkpoint = services.audit_checkpoint_sign(workspace=workspace, actor=admin_user)
    settings.EGRESS_ALLOW_LOOPBACK = False

    delivery = services.audit_checkpoint_publish(checkpoint=checkpoint)

    assert not delivery.ok and delivery.status_code is None
    assert "egress refused" in delivery.error and "loopback" in delivery.error
    assert endpoint.seen == []


def test_the_s3_endpoint_is_refused_at_send_time(workspace, admin_user, endpoint, settings):
    export_to_s3(workspace, admin_user, endpoint.url)
    settings.EGRESS_ALLOW_LOOPBACK = False

    with pytest.raises(export.ExportTargetError) as refused:
        export.audit_export_run(workspace=workspace, actor=admin_user)

    assert "loopback" in refused.value.message
    assert endpoint.seen == []  # boto3 sent nothing


def test_an_endpoint_answer_is_not_shown_to_the_user(client, workspace, admin_user, endpoint):
    export_to_s3(workspace, admin_user, endpoint.url)
    client.force_login(admin_user)

    page = client.post(reverse("audit:export-now", args=[workspace.slug]))

    text = page.content.decode()
    assert page.status_code == 502
    assert "AccessDenied (HTTP 403)" in text
    assert LEAK not in text and S3_SECRET not in text
    assert endpoint.seen and endpoint.seen[0][0] == "PUT"  # it did go through the policy
