"""The delivery engine's minute figures, through a real worker against the local platform
servers: a failing receiver's failed attempts and dead letters (retries exhausted), a
precheck's refusal counted as a failure with its reason, consent blocks, deliveries and the
requests' latency."""

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from destinations.metrics import (
    DELIVERY_BLOCKED,
    DELIVERY_DEAD,
    DELIVERY_DEAD_REASON,
    DELIVERY_DELIVERED,
    DELIVERY_FAILED,
    DELIVERY_KINDS,
    DELIVERY_LATENCY,
)
from destinations.metrics.selectors import figures_totals, latency_p95
from destinations.models import Delivery, Destination
from tests.destinations.factories import DestinationFactory
from tests.destinations.helpers import CONSENTED, local, order, send_batch
from tests.destinations.worker import celery_worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def token(token, settings):
    settings.DELIVERY_KICK = True
    return token


def settled(workspace) -> bool:
    deliveries = Delivery.objects.for_workspace(workspace)
    return deliveries.count() == 12 and not deliveries.filter(status="pending").exists()


def test_failures_dead_letters_refusals_and_blocks_are_counted(
    tmp_path, workspace, token, platforms
):
    webhook = DestinationFactory(
        workspace=workspace, type="webhook", config=local("webhook", platforms)
    )
    ga4 = DestinationFactory(workspace=workspace, type="ga4_mp", config=local("ga4_mp", platforms))
    meta = DestinationFactory(
        workspace=workspace, type="meta_capi", config=local("meta_capi", platforms)
    )
    # The receiver fails every request; two tries each, and no pause in between.
    Destination.objects.filter(pk=webhook.pk).update(max_attempts=2, autopause_min_attempts=1000)
    platforms.behave("webhook", mode="error", status=503)
    blocked = {**CONSENTED, "consent": {"gpc": True}, "location": {"country": "US", "region": "CA"}}
    too_old_for_ga4 = (timezone.now() - timedelta(hours=80)).isoformat()
    started = datetime.now(UTC) - timedelta(minutes=1)

    with celery_worker(tmp_path):
        send_batch(
            Client(),
            token,
            order("f-1"),
            order("f-2"),
            order("f-old", timestamp=too_old_for_ga4),
            order("f-blocked", context=blocked),
        )
        # 4 events to 3 destinations: 12 deliveries.
        wait_for(lambda: settled(workspace), timeout=60, message="every delivery settled")

    totals = figures_totals(
        workspace=workspace,
        kinds=DELIVERY_KINDS,
        since=started,
        until=datetime.now(UTC) + timedelta(minutes=1),
    )
    w, g, m = webhook.public_id, ga4.public_id, meta.public_id
    # Latency: the sum of the requests' milliseconds, one figure per destination that sent.
    assert {subject for kind, subject in totals if kind == DELIVERY_LATENCY} == {w, g, m}
    totals = {key: value for key, value in totals.items() if key[0] != DELIVERY_LATENCY}
    assert totals == {
        # The failing receiver: every event tried twice, then dead with retries exhausted.
        (DELIVERY_FAILED, w): 8,
        (DELIVERY_DEAD, w): 4,
        (DELIVERY_DEAD_REASON, f"{w}|retries_exhausted"): 4,
        # GA4 refuses an 80-hour-old event before it is sent: a failure, with its reason.
        (DELIVERY_DELIVERED, g): 3,
        (DELIVERY_FAILED, g): 1,
        (DELIVERY_DEAD, g): 1,
        (DELIVERY_DEAD_REASON, f"{g}|unsendable"): 1,
        # GPC in California: Meta is blocked by consent.
        (DELIVERY_DELIVERED, m): 3,
        (DELIVERY_BLOCKED, m): 1,
    }
    p95 = latency_p95(
        workspace=workspace, since=started, until=datetime.now(UTC) + timedelta(minutes=1)
    )
    assert set(p95) == {w, g, m} and all(value is not None for value in p95.values())
