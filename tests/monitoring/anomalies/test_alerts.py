"""Alerts: an e-mail to the chosen members and a signed webhook, once per transition, a quiet
period per (kind, subject), "resolved" only where "opened" went, the egress policy applied, a
failure recorded on the anomaly and retried when a retry may help."""

import json
from datetime import timedelta
from http.server import BaseHTTPRequestHandler

import pytest
from django.core import mail

from destinations.adapters.webhook import verify_signature
from monitoring.anomalies import alerts, services
from monitoring.anomalies.models import Anomaly
from tests.monitoring.anomalies.conftest import NOW
from workspaces.models import Membership
from workspaces.services import membership_remove, workspace_delete

pytestmark = pytest.mark.django_db


def receiver(status=200):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            self.server.seen.append((dict(self.headers), body))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture
def hook(serve_http):
    return serve_http(receiver())


@pytest.fixture
def configured(workspace, admin_user, editor_user, hook):
    def configure(url=None, **options):
        port = hook.server_address[1]
        return services.alert_settings_update(
            workspace=workspace,
            actor=admin_user,
            email_member_ids=[editor_user.pk],
            webhook_url=url or f"http://127.0.0.1:{port}/alerts",
            quiet_minutes=options.get("quiet_minutes", 30),
            min_severity=options.get("min_severity", "low"),
        )

    return configure


def make(workspace, started=NOW, subject="destination:dst_a", **fields):
    return Anomaly.objects.create(
        workspace=workspace,
        kind="destination_down",
        subject=subject,
        severity="high",
        summary="Every request to dst_a failed for 2 minutes.",
        evidence={"observed": 8, "series": [[1, 0, 0, 0]] * 30},
        started_at=started,
        last_seen_at=started,
        **fields,
    )


def test_opened_and_resolved_each_alert_once_signed(workspace, configured, hook, editor_user):
    _, secret = configured()
    anomaly = make(workspace)

    alerts.alert_send(anomaly=anomaly, transition="opened")
    alerts.alert_send(anomaly=anomaly, transition="opened")  # a retried task: nothing twice

    [(headers, body)] = hook.seen
    assert verify_signature(secret, headers["X-TrackLayer-Signature"], body)
    assert not verify_signature("whsec_other", headers["X-TrackLayer-Signature"], body)
    assert headers["Idempotency-Key"] == f"{anomaly.public_id}:opened"
    message = json.loads(body)
    assert message["type"] == "anomaly.opened"
    assert message["anomaly"]["id"] == anomaly.public_id
    assert "series" not in message["anomaly"]["figures"]
    assert message["anomaly"]["url"].endswith(f"/w/{workspace.slug}/anomalies/{anomaly.public_id}/")
    [email] = mail.outbox
    assert email.to == [editor_user.email]
    assert "High anomaly" in email.subject

    anomaly.status, anomaly.resolved_at = "resolved", NOW + timedelta(minutes=5)
    anomaly.save()
    alerts.alert_send(anomaly=anomaly, transition="resolved")
    assert json.loads(hook.seen[1][1])["type"] == "anomaly.resolved"
    assert mail.outbox[1].subject.startswith("[TrackLayer] Resolved")
    anomaly.refresh_from_db()
    assert set(anomaly.alerts) == {"opened", "resolved"}
    assert anomaly.alerts["opened"]["webhook"]["status"] == 200


def test_the_quiet_period_holds_back_a_second_alert_for_the_same_subject(
    workspace, configured, hook
):
    configured(quiet_minutes=30)
    first = make(workspace, status="resolved", resolved_at=NOW)
    alerts.alert_send(anomaly=first, transition="opened")
    again = make(workspace, started=NOW + timedelta(minutes=10))
    other = make(workspace, started=NOW + timedelta(minutes=10), subject="destination:dst_b")
    later = make(workspace, started=NOW + timedelta(minutes=45), subject="destination:dst_c")

    alerts.alert_send(anomaly=again, transition="opened")
    alerts.alert_send(anomaly=other, transition="opened")
    alerts.alert_send(anomaly=later, transition="opened")

    assert len(hook.seen) == 3  # first, other, later
    again.refresh_from_db()
    assert again.alerts["opened"]["webhook"] == {"skipped": "quiet_period"}
    # Its resolution is not announced either: its opening was not.
    again.status = "resolved"
    again.save()
    alerts.alert_send(anomaly=again, transition="resolved")
    assert len(hook.seen) == 3


def test_below_the_minimum_severity_nothing_is_sent(workspace, configured, hook):
    configured(min_severity="high")
    anomaly = make(workspace)
    anomaly.severity = "medium"
    anomaly.save()
    alerts.alert_send(anomaly=anomaly, transition="opened")
    assert hook.seen == [] and mail.outbox == []


def test_a_failing_receiver_is_recorded_and_retried(workspace, configured, serve_http):
    failing = serve_http(receiver(503))
    configured(url=f"http://127.0.0.1:{failing.server_address[1]}/alerts")
    anomaly = make(workspace)

    with pytest.raises(alerts.AlertRetry):
        alerts.alert_send(anomaly=anomaly, transition="opened")
    anomaly.refresh_from_db()
    assert anomaly.alert_error == "opened webhook: HTTP 503"
    assert len(mail.outbox) == 1  # the e-mail went; a retry does not send it again
    with pytest.raises(alerts.AlertRetry):
        alerts.alert_send(anomaly=anomaly, transition="opened")
    assert len(mail.outbox) == 1
    assert len(failing.seen) == 2


def test_a_private_address_is_refused_by_the_egress_policy_and_not_retried(
    workspace, configured, settings
):
    configured()
    anomaly = make(workspace)
    settings.EGRESS_ALLOW_LOOPBACK = False  # production's policy

    alerts.alert_send(anomaly=anomaly, transition="opened")  # no AlertRetry

    anomaly.refresh_from_db()
    assert anomaly.alert_error.startswith("opened webhook: egress refused")
    assert anomaly.alerts["opened"]["webhook"]["retry"] is False


def test_a_member_removed_since_being_chosen_gets_no_more_alerts(
    workspace, configured, editor_user, admin_user
):
    configured()
    membership = Membership.objects.get(workspace=workspace, user=editor_user)
    membership_remove(workspace=workspace, actor=admin_user, membership=membership)

    alerts.alert_send(anomaly=make(workspace), transition="opened")

    assert mail.outbox == []


def test_a_deleted_workspace_sends_no_alert_even_one_queued_before(
    workspace, configured, hook, admin_user
):
    configured()
    anomaly = make(workspace)
    workspace_delete(workspace=workspace, actor=admin_user, confirm_slug=workspace.slug)
    anomaly = Anomaly.objects.select_related("workspace").get(pk=anomaly.pk)  # as the task reads

    assert alerts.alert_send(anomaly=anomaly, transition="opened") == []

    assert hook.seen == [] and mail.outbox == []
