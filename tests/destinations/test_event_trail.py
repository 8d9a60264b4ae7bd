"""An event's detail tells what each destination did with it — the consent decision and its
reasons, each attempt with its status code, outcome and latency, and the outcome or the dead
letter's reason — read from what the real engine did against the local platforms."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.html import escape

from destinations.models import Delivery, DeliveryAttempt
from privacy.consent import explain
from tests.destinations.factories import DestinationFactory
from tests.destinations.helpers import local, order, run_engine, send_batch, url

pytestmark = pytest.mark.django_db


def step_html(html: str, destination) -> str:
    start = html.index(f'data-destination="{destination.public_id}"')
    return html[start : html.index("</dl>", start)]


def test_the_trail_shows_consent_attempts_latency_and_the_dead_reason(
    client, workspace, token, platforms, viewer_user
):
    webhook = DestinationFactory(
        workspace=workspace, type="webhook", name="Warehouse", config=local("webhook", platforms)
    )
    meta = DestinationFactory(
        workspace=workspace,
        type="meta_capi",
        name="Meta ads",
        config=local("meta_capi", platforms),
        secrets={"access_token": "notAmetaTOKENrevoked0123456789"},
    )
    send_batch(client, token, order("trail-1"))
    run_engine()
    delivered = Delivery.objects.for_workspace(workspace).get(destination_id=webhook.pk)
    dead = Delivery.objects.for_workspace(workspace).get(destination_id=meta.pk)
    assert (delivered.status, dead.status) == ("delivered", "dead")
    [ok_attempt] = DeliveryAttempt.objects.for_workspace(workspace).filter(delivery=delivered)
    [failed_attempt] = DeliveryAttempt.objects.for_workspace(workspace).filter(delivery=dead)
    client.force_login(viewer_user)

    page = client.get(url("event-detail", workspace, "trail-1"))

    assert page.status_code == 200
    html = page.content.decode()
    assert "2 destinations took it" in html
    assert "handed to the destinations" not in html
    ok = step_html(html, webhook)
    assert 'data-status="delivered"' in ok
    assert 'data-action="deliver"' in ok
    assert delivered.decision_reasons  # stored by the engine, so the loop below checks some
    for reason in delivered.decision_reasons:
        assert f"<code>{reason}</code>" in ok
        assert escape(explain(reason)) in ok
    assert "<td>200</td>" in ok
    assert f"{ok_attempt.latency_ms} ms" in ok
    assert "after 1 attempt" in ok
    refused = step_html(html, meta)
    assert 'data-status="dead"' in refused
    assert f"<td>{failed_attempt.status_code}</td>" in refused
    assert failed_attempt.status_code >= 400
    assert 'data-outcome="failed"' in refused
    assert "refused by the platform" in refused
    assert "refused before sending" not in refused
    assert "notAmetaTOKENrevoked0123456789" not in html


def test_a_refusal_before_sending_is_named_as_such_in_the_drawer(
    client, workspace, token, platforms, signed_in
):
    meta = DestinationFactory(
        workspace=workspace, type="meta_capi", config=local("meta_capi", platforms)
    )
    stale = (timezone.now() - timedelta(days=8)).isoformat()
    send_batch(client, token, order("trail-old", timestamp=stale))
    run_engine()

    drawer = signed_in.get(url("event-detail", workspace, "trail-old"), HTTP_HX_REQUEST="true")

    html = drawer.content.decode()
    assert "<html" not in html  # the drawer's partial
    step = step_html(html, meta)
    assert "none — refused before sending" in step
    assert "dead letter, refused before sending" in step
    assert "Meta refuses events more than 7 days old" in step


def test_an_event_no_destination_takes_says_so(client, workspace, token, signed_in):
    DestinationFactory(workspace=workspace, type="webhook", event_filter=["Signed Up"])
    send_batch(client, token, order("trail-none"))
    run_engine()

    html = signed_in.get(url("event-detail", workspace, "trail-none")).content.decode()

    assert "done — no destination takes this event" in html
    assert 'data-testid="trail-step"' not in html
