"""Finding 4 through the resolver: a witness or S3 endpoint given by a *name* that resolves
inward is refused like the address itself — in the settings form, and again at send time
when the name resolved outward while it was saved and inward when it is used (DNS
rebinding). The resolver is replaced (``http.resolve``), since no test may depend on a public
name such as localtest.me resolving."""

from http.server import BaseHTTPRequestHandler

import pytest

from audit import export, services
from audit.forms import ExportConfigForm
from tests.audit.helpers import compliance_form, export_to_s3
from tracklayer import http

PUBLIC = "93.184.216.34"
NAME = "witness.attacker.test"


class Seen(BaseHTTPRequestHandler):
    def _answer(self):
        self.server.seen.append((self.command, self.path))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_PUT = do_POST = do_GET = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def listener(serve_http):
    """Something listening on loopback, where the name will point."""
    return serve_http(Seen)


@pytest.fixture
def resolves_to(settings, monkeypatch):
    """Point every name at the addresses given by the last call; production's egress."""
    settings.EGRESS_ALLOW_LOOPBACK = False
    answer = [PUBLIC]
    monkeypatch.setattr(http, "resolve", lambda host, port: list(answer))

    def point(*addresses):
        answer[:] = addresses

    return point


@pytest.mark.parametrize("field", ["witness_url", "s3_endpoint_url"])
@pytest.mark.parametrize("addresses", [["127.0.0.1"], [PUBLIC, "127.0.0.1"], ["::1"]])
def test_the_form_refuses_a_name_that_resolves_to_loopback(resolves_to, field, addresses):
    resolves_to(*addresses)
    data = compliance_form(target="s3", s3_bucket="audit-bucket", s3_access_key_id="AKID")

    form = ExportConfigForm({**data, field: f"https://{NAME}/cp"})

    assert not form.is_valid()
    [error] = form.errors.as_data()[field]
    assert error.code == "egress_refused"
    assert f"The host '{NAME}' resolves to a loopback address" in error.message


def test_a_witness_name_that_rebinds_inward_is_refused_at_send_time(
    workspace, admin_user, listener, resolves_to
):
    export.audit_export_config_update(
        workspace=workspace,
        actor=admin_user,
        values={"witness_url": f"http://{NAME}:{listener.server_port}/cp"},
    )
    checkpoint = services.audit_checkpoint_sign(workspace=workspace, actor=admin_user)
    resolves_to("127.0.0.1")

    delivery = services.audit_checkpoint_publish(checkpoint=checkpoint)

    assert not delivery.ok and delivery.status_code is None
    assert "egress refused" in delivery.error and "loopback" in delivery.error
    assert listener.seen == []


def test_an_s3_endpoint_name_that_rebinds_inward_is_refused_at_send_time(
    workspace, admin_user, listener, resolves_to
):
    export_to_s3(workspace, admin_user, f"http://{NAME}:{listener.server_port}")
    resolves_to("127.0.0.1")

    with pytest.raises(export.ExportTargetError) as refused:
        export.audit_export_run(workspace=workspace, actor=admin_user)

    assert "loopback" in refused.value.message
    assert listener.seen == []  # boto3 sent nothing
