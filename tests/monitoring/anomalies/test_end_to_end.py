"""End to end with a real Celery worker: events flow to a webhook destination whose receiver
fails every request; the engine's minute figures show it; the detector task (sent as beat
sends it) opens a high ``destination_down`` anomaly within two minutes, with an incident; the
alert webhook reaches a local receiver that verifies its signature; the receiver recovers and
the anomaly resolves itself, with a "resolved" alert."""

import json
import os
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler

import pytest
import redis
from celery import current_app
from django.conf import settings
from django.test import Client

from destinations.adapters.webhook import verify_signature
from destinations.models import Destination
from monitoring.anomalies import services
from monitoring.anomalies.models import Anomaly
from monitoring.incidents.models import Incident
from tests.databases import database_env
from tests.destinations.factories import DestinationFactory
from tests.destinations.helpers import local, order, send_batch
from tests.destinations.worker import Worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

DETECT_EVERY = 3.0  # seconds: beat sends it every minute; the test does not wait that long


@contextmanager
def worker(tmp_path):
    """A worker for every queue, as tests.destinations.worker.celery_worker starts it."""
    broker = settings.CELERY_BROKER_URL
    redis.Redis.from_url(broker).flushdb()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        **database_env(),
        "TEST_REDIS_URL": settings.CACHES["default"]["LOCATION"],
        "TEST_CELERY_BROKER_URL": broker,
        "DELIVERY_SWEEP_SECONDS": "1",
        "DELIVERY_HTTP_TIMEOUT": "2",
        "DELIVERY_KICK": "1",
        "PYTHONUNBUFFERED": "1",
    }
    queues = [settings.CELERY_TASK_DEFAULT_QUEUE, *settings.CELERY_REGION_QUEUES.values()]
    running = Worker(concurrency=6, beat=True, env=env, schedule_dir=tmp_path, queues=queues)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def alert_receiver():
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            self.server.seen.append((self.headers["X-TrackLayer-Signature"], body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    return Handler


def test_a_failing_destination_is_reported_alerted_and_resolved(
    tmp_path,
    workspace,
    admin_user,
    token,
    platforms,
    serve_http,
    settings,
):
    settings.DELIVERY_KICK = True
    destination = DestinationFactory(
        workspace=workspace, type="webhook", config=local("webhook", platforms)
    )
    # The breaker and auto-pause stay out of it: down is down, paused or not.
    Destination.objects.filter(pk=destination.pk).update(autopause_min_attempts=1_000_000)
    hook = serve_http(alert_receiver())
    _, secret = services.alert_settings_update(
        workspace=workspace,
        actor=admin_user,
        email_member_ids=[admin_user.pk],
        webhook_url=f"http://127.0.0.1:{hook.server_address[1]}/alerts",
        quiet_minutes=30,
        min_severity="low",
    )
    platforms.behave("webhook", mode="error", status=503)
    client = Client()
    sent = 0

    def flow_and_detect():
        nonlocal sent
        send_batch(client, token, order(f"e2e-{sent}"))
        sent += 1
        current_app.send_task(
            "monitoring.anomalies.tasks.anomalies_detect",
            kwargs={"region": workspace.region},
            queue=settings.CELERY_REGION_QUEUES[workspace.region],
        )

    def types():
        return [json.loads(body)["type"] for _, body in hook.seen]

    with worker(tmp_path) as running:
        started = time.monotonic()

        def down():
            flow_and_detect()
            return Anomaly.objects.filter(workspace=workspace, kind="destination_down").first()

        anomaly = wait_for(down, timeout=150, interval=DETECT_EVERY, message="down reported")
        reported_after = time.monotonic() - started
        wait_for(lambda: "anomaly.opened" in types(), timeout=30, message="opened alert")

        platforms.behave("webhook", mode="ok")

        def resolved():
            flow_and_detect()
            return Anomaly.objects.get(pk=anomaly.pk).status == "resolved"

        wait_for(resolved, timeout=300, interval=DETECT_EVERY, message="resolved by itself")
        wait_for(lambda: "anomaly.resolved" in types(), timeout=30, message="resolved alert")
        log = running.log

    assert reported_after <= 125, f"reported after {reported_after:.0f} s"
    assert (anomaly.severity, anomaly.subject) == ("high", f"destination:{destination.public_id}")
    assert types() == ["anomaly.opened", "anomaly.resolved"]
    for header, body in hook.seen:
        assert verify_signature(secret, header, body)
    anomaly.refresh_from_db()
    assert anomaly.resolved_automatically
    assert anomaly.alerts["opened"]["email"]["recipients"] == 1
    assert Incident.objects.filter(workspace=workspace, source_ids=[anomaly.public_id]).exists()
    assert secret not in log
