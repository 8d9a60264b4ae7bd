"""A destination's health tells the truth: an event refused before sending (the adapter's
precheck dead-lettered it) is a failure with its reason, not a silent gap beside "100 %" and
"Last error: none" — read from what the real engine leaves behind."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from destinations.models import Delivery, Destination
from destinations.routing import selectors
from tests.destinations.factories import DeliveryAttemptFactory, DeliveryFactory, DestinationFactory
from tests.destinations.helpers import local, order, run_engine, send_batch

pytestmark = pytest.mark.django_db


def health_of(workspace, destination):
    return selectors.destination_health(
        workspace=workspace, destination=destination, since=timezone.now() - timedelta(hours=1)
    )


def test_refusals_before_sending_are_failures_with_their_reason(
    client, workspace, token, platforms
):
    meta = DestinationFactory(
        workspace=workspace, type="meta_capi", config=local("meta_capi", platforms)
    )
    now = timezone.now()
    send_batch(
        client,
        token,
        order("fresh-1"),
        order("fresh-2"),
        order("stale-8", timestamp=(now - timedelta(days=8)).isoformat()),
        order("stale-9", timestamp=(now - timedelta(days=9, hours=5)).isoformat()),
        order("stale-12", timestamp=(now - timedelta(days=12)).isoformat()),
    )

    run_engine()

    dead = Delivery.objects.for_workspace(workspace).filter(status="dead")
    assert dead.count() == 3
    health = health_of(workspace, meta)
    assert (health.attempts, health.refused, health.failures) == (2, 3, 3)
    assert health.success_rate == pytest.approx(2 / 5)
    assert health.success_percent == 40
    assert health.dead_letters == 3
    # The three ages are one reason: numbers as "#"
    [reason] = health.failure_reasons
    assert (reason.kind, reason.count) == ("refused", 3)
    assert reason.label.startswith("Meta refuses events more than # days old")
    assert "days old" in health.last_error
    assert health.last_error_at is not None
    assert health.last_status_code is None


def test_failed_attempts_and_refusals_are_counted_once_each_by_reason(workspace):
    destination = DestinationFactory(workspace=workspace)
    delivered = DeliveryFactory(destination=destination, status="delivered")
    DeliveryAttemptFactory(delivery=delivered)
    gave_up = DeliveryFactory(
        destination=destination,
        status="dead",
        last_error="HTTP 500",
        dead_reason="gave up after 1 attempts: HTTP 500",
    )
    DeliveryAttemptFactory(delivery=gave_up, status_code=500, outcome="failed", error="HTTP 500")
    retrying = DeliveryFactory(destination=destination, last_error="timed out")
    DeliveryAttemptFactory(delivery=retrying, status_code=None, outcome="retry", error="timed out")
    DeliveryFactory(
        destination=destination,
        status="dead",
        last_error="too_large: the event alone is larger than GA4's 130 kB request limit",
        dead_reason="too_large: the event alone is larger than GA4's 130 kB request limit",
    )
    # Dead before the window: in the dead-letter count, not in the window's failures
    old = DeliveryFactory(
        destination=destination, status="dead", last_error="old refusal", dead_reason="old refusal"
    )
    Delivery.objects.for_workspace(workspace).filter(pk=old.pk).update(
        updated_at=timezone.now() - timedelta(days=2)
    )

    health = health_of(workspace, destination)

    assert (health.attempts, health.refused, health.failures) == (3, 1, 3)
    assert health.success_rate == pytest.approx(1 / 4)
    assert health.dead_letters == 3
    assert {(r.kind, r.label, r.count) for r in health.failure_reasons} == {
        ("attempt", "HTTP 500", 1),
        ("attempt", "no answer", 1),
        ("refused", "too_large: the event alone is larger than GA4's # kB request limit", 1),
    }


def test_the_list_page_never_shows_100_percent_beside_refusals(
    client, workspace, token, platforms, viewer_user
):
    meta = DestinationFactory(
        workspace=workspace, type="meta_capi", config=local("meta_capi", platforms)
    )
    send_batch(client, token, order("ok-1"))
    send_batch(
        client,
        token,
        order("old-1", timestamp=(timezone.now() - timedelta(days=8)).isoformat()),
    )
    run_engine()
    client.force_login(viewer_user)

    page = client.get(reverse("destinations:destinations", args=[workspace.slug]))

    assert page.status_code == 200
    html = page.content.decode()
    row = html[html.index(f'data-destination="{meta.public_id}"') :]
    row = row[: row.index("</tr>")]
    assert "50 %" in row
    assert "100 %" not in row
    assert "1 refused before sending" in row
    assert "not sent: " in row and "Meta refuses events more than # days old" in row
    assert "days old" in row[row.index('data-testid="last-error"') :]
    assert Destination.objects.get(pk=meta.pk).state == "active"
