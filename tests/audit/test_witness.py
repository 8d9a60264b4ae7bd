"""Each signed checkpoint is handed to the workspace's witness URL (a local HTTP server here)."""

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from audit import export, services
from audit.models import AuditWitnessDelivery
from audit.signed_note import Verifier, open_checkpoint


class Witness(BaseHTTPRequestHandler):
    received: list[tuple] = []
    status = 200

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Witness.received.append((self.headers, body))  # case-insensitive headers
        self.send_response(Witness.status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def witness_url():
    Witness.received, Witness.status = [], 200
    server = HTTPServer(("127.0.0.1", 0), Witness)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/checkpoints"
    server.shutdown()
    server.server_close()


@pytest.fixture
def configured(workspace, admin_user, witness_url):
    export.audit_export_config_update(
        workspace=workspace, actor=admin_user, values={"witness_url": witness_url}
    )
    return witness_url


def test_signing_schedules_the_publication_after_commit(
    workspace, admin_user, configured, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.audit_checkpoint_sign(workspace=workspace, actor=admin_user)
    assert len(callbacks) == 1  # the task is queued only once the checkpoint is committed


def test_the_witness_receives_a_verifiable_note(workspace, admin_user, configured):
    checkpoint = services.audit_checkpoint_sign(workspace=workspace, actor=admin_user)

    delivery = services.audit_checkpoint_publish(checkpoint=checkpoint)

    assert delivery.ok and delivery.status_code == 200
    [(headers, body)] = Witness.received
    assert headers["Content-Type"].startswith("text/plain")
    verified = open_checkpoint(body.decode(), Verifier.from_vkey(headers["X-Verifier-Key"]))
    assert verified.size == checkpoint.size
    assert headers["X-TrackLayer-Workspace"] == workspace.public_id


def test_a_failing_or_unreachable_witness_is_recorded(workspace, admin_user, configured):
    checkpoint = services.audit_checkpoint_sign(workspace=workspace, actor=admin_user)
    Witness.status = 503
    refused = services.audit_checkpoint_publish(checkpoint=checkpoint)
    export.audit_export_config_update(
        workspace=workspace, actor=admin_user, values={"witness_url": "http://127.0.0.1:9/x"}
    )
    unreachable = services.audit_checkpoint_publish(checkpoint=checkpoint)

    assert (refused.ok, refused.status_code) == (False, 503)
    assert not unreachable.ok and unreachable.status_code is None and unreachable.error
    assert AuditWitnessDelivery.objects.filter(checkpoint=checkpoint).count() == 2
