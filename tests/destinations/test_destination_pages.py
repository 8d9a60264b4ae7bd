"""The destinations pages: list with health and chart, create and edit per type, pause and
resume, the test send, the delivery log with its drawer, dead letters with replay — and no
secret on any page, no inline script or style."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEntry
from destinations import delivery
from destinations.models import Delivery, Destination
from destinations.routing import services
from tests.audit_entries import last_entry
from tests.destinations.factories import (
    ALL_SECRET_VALUES,
    SECRETS,
    DeliveryAttemptFactory,
    DeliveryFactory,
    DestinationFactory,
)
from tests.destinations.helpers import url
from tests.factories import EventFactory

pytestmark = pytest.mark.django_db

NEW_SECRET = "whsec_BRANDnewSIGNINGsecret_7777"


def html(response) -> str:
    return response.content.decode()


def assert_clean(response) -> None:
    """No secret, and nothing the CSP would refuse (inline script or style)."""
    body = html(response)
    assert [value for value in [*ALL_SECRET_VALUES, NEW_SECRET] if value in body] == []
    assert " style=" not in body
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", body) == []


# --- the list ---------------------------------------------------------------------------------


def test_the_list_shows_each_destinations_health_and_a_chart(signed_in, workspace):
    healthy = DestinationFactory(workspace=workspace, name="Meta shop", type="meta_capi")
    failing = DestinationFactory(workspace=workspace, name="Warehouse hook")
    delivery = DeliveryFactory(destination=healthy)
    DeliveryAttemptFactory(delivery=delivery, latency_ms=250)
    broken = DeliveryFactory(destination=failing, status="dead")
    DeliveryAttemptFactory(
        delivery=broken, outcome="failed", status_code=410, error="HTTP 410: gone"
    )
    services.destination_autopause(
        destination=failing,
        figures={"failed_requests": 20, "requests": 20, "window_seconds": 300},
    )

    response = signed_in.get(url("destinations", workspace))

    assert response.status_code == 200
    body = html(response)
    assert "Meta shop" in body and "Warehouse hook" in body
    assert "250 ms" in body
    assert "HTTP 410: gone" in body
    assert "Paused automatically: 20 of 20 requests failed (100 %) in the last 5 minutes." in body
    assert 'data-testid="delivery-chart"' in body
    assert body.count('class="bar bar-delivered"') == 1
    assert body.count('class="bar bar-failed"') == 1
    assert "Dead letters (1)" in body
    assert_clean(response)


def test_the_sidebar_links_to_destinations(signed_in, workspace):
    response = signed_in.get(url("destinations", workspace))

    assert f'href="{url("destinations", workspace)}" aria-current="page">Destinations' in html(
        response
    )


# --- create ---------------------------------------------------------------------------------


def test_the_new_page_offers_each_type(signed_in, workspace):
    response = signed_in.get(url("destination-create", workspace))

    body = html(response)
    for kind in ("meta_capi", "tiktok_events", "ga4_mp", "webhook"):
        assert f'data-type="{kind}"' in body


def test_a_webhook_is_created_from_the_form_and_its_secret_is_masked_after(signed_in, workspace):
    form = signed_in.get(url("destination-create", workspace) + "?type=webhook")
    assert 'name="signing_secret"' in html(form) and 'name="url"' in html(form)

    response = signed_in.post(
        url("destination-create", workspace),
        {
            "type": "webhook",
            "name": "Warehouse",
            "url": "https://hooks.example.test/in",
            "batch_size": "50",
            "signing_secret": NEW_SECRET,
            "event_filter": "Order Completed\n$page",
            "event_mapping": "Order Completed = order.completed",
            "property_mapping": "value = properties.total",
            "consent_overrides": "categories = analytics\nsells_or_shares = false",
            "autopause_error_percent": "40",
            "autopause_min_attempts": "30",
            "autopause_window_minutes": "10",
            "max_concurrency": "2",
        },
    )

    destination = Destination.objects.get(workspace=workspace)
    assert response.status_code == 302
    assert response["Location"] == url("destination-edit", workspace, destination.public_id)
    assert destination.config == {"url": "https://hooks.example.test/in", "batch_size": 50}
    assert destination.event_filter == ["Order Completed", "$page"]
    assert destination.event_mapping == {"Order Completed": "order.completed"}
    assert destination.property_mapping == {"value": "properties.total"}
    assert destination.consent_policy == {"categories": ["analytics"], "sells_or_shares": False}
    assert (destination.autopause_error_rate, destination.autopause_window_seconds) == (0.4, 600)
    assert services.destination_secrets(destination) == {"signing_secret": NEW_SECRET}

    page = signed_in.get(response["Location"])
    assert "Warehouse created" in html(page)
    assert "Stored: ••••7777. Leave empty to keep it." in html(page)
    assert_clean(page)


def test_a_new_meta_destination_starts_with_the_standard_names(signed_in, workspace):
    response = signed_in.get(url("destination-create", workspace) + "?type=meta_capi")

    assert "Order Completed = Purchase" in html(response)
    assert 'name="pixel_id"' in html(response)
    assert 'name="access_token"' in html(response)


def test_refused_settings_come_back_on_their_fields_and_the_secret_is_not_echoed(
    signed_in, workspace
):
    response = signed_in.post(
        url("destination-create", workspace),
        {
            "type": "meta_capi",
            "name": "Meta",
            "pixel_id": "my pixel",
            "access_token": SECRETS["meta_capi"]["access_token"],
            "consent_overrides": "",
            "autopause_error_percent": "50",
            "autopause_min_attempts": "20",
            "autopause_window_minutes": "5",
            "max_concurrency": "4",
        },
    )

    assert response.status_code == 422
    body = html(response)
    assert re.search(r'field-invalid">\s*<label for="id_pixel_id"', body)
    assert "Enter the pixel (dataset) id" in body
    assert not Destination.objects.filter(workspace=workspace).exists()
    assert_clean(response)


def test_a_bad_mapping_line_is_refused_by_the_form(signed_in, workspace):
    response = signed_in.post(
        url("destination-create", workspace),
        {
            "type": "webhook",
            "name": "Hook",
            "url": "https://hooks.example.test/in",
            "signing_secret": NEW_SECRET,
            "event_mapping": "Order Completed",
            "consent_overrides": "colour = blue",
            "autopause_error_percent": "50",
            "autopause_min_attempts": "20",
            "autopause_window_minutes": "5",
            "max_concurrency": "4",
        },
    )

    assert response.status_code == 422
    assert "Line 1: write it as “name = value”." in html(response)
    assert "&#x27;colour&#x27; is not a policy setting" in html(response)
    assert_clean(response)


# --- edit ------------------------------------------------------------------------------------


def edit_data(destination, **changes) -> dict:
    data = {
        "name": destination.name,
        **{key: value for key, value in destination.config.items()},
        "event_filter": "\n".join(destination.event_filter),
        "event_mapping": "\n".join(f"{k} = {v}" for k, v in destination.event_mapping.items()),
        "property_mapping": "",
        "consent_overrides": "",
        "autopause_error_percent": "50",
        "autopause_min_attempts": "20",
        "autopause_window_minutes": "5",
        "max_concurrency": "4",
    }
    data.update(changes)
    return data


def test_saving_with_an_empty_secret_keeps_it_and_audits_the_changes(signed_in, workspace):
    destination = DestinationFactory(workspace=workspace, type="meta_capi", name="Meta")

    response = signed_in.post(
        url("destination-update", workspace, destination.public_id),
        edit_data(destination, name="Meta (EU)", access_token="", test_event_code="TEST42"),
    )

    destination.refresh_from_db()
    assert response.status_code == 302
    assert destination.name == "Meta (EU)"
    assert destination.config["test_event_code"] == "TEST42"
    assert services.destination_secrets(destination) == SECRETS["meta_capi"]
    assert set(last_entry(workspace)["payload"]["changes"]) == {
        "name",
        "config.test_event_code",
    }


def test_a_viewer_sees_the_destination_read_only_and_cannot_change_it(
    client, workspace, viewer_user
):
    destination = DestinationFactory(workspace=workspace)
    client.force_login(viewer_user)

    page = client.get(url("destination-edit", workspace, destination.public_id))
    save = client.post(url("destination-update", workspace, destination.public_id), {})
    pause = client.post(url("destination-pause", workspace, destination.public_id))
    create = client.get(url("destination-create", workspace))

    assert page.status_code == 200
    assert "disabled" in html(page)
    assert 'data-testid="save"' not in html(page)
    assert 'data-testid="pause"' not in html(page)
    assert (save.status_code, pause.status_code, create.status_code) == (403, 403, 403)
    assert_clean(page)


# --- pause, resume, test, delete ---------------------------------------------------------------


def test_pause_and_resume_from_the_page(signed_in, workspace):
    destination = DestinationFactory(workspace=workspace, name="Hook")
    page_url = url("destination-edit", workspace, destination.public_id)

    paused = signed_in.post(
        url("destination-pause", workspace, destination.public_id),
        {"reason": "Receiver maintenance"},
        follow=True,
    )
    assert "Hook paused" in html(paused)
    assert 'data-testid="paused-banner"' in html(paused)
    assert "Receiver maintenance" in html(paused)
    again = signed_in.post(url("destination-pause", workspace, destination.public_id), follow=True)
    assert "Hook is already paused." in html(again)

    resumed = signed_in.post(
        url("destination-resume", workspace, destination.public_id), follow=True
    )
    destination.refresh_from_db()
    assert resumed.redirect_chain[-1][0] == page_url
    assert "Hook resumed" in html(resumed)
    assert destination.state == "active"


def test_send_test_event_shows_the_platforms_answer(signed_in, workspace, monkeypatch):

    destination = DestinationFactory(workspace=workspace)
    monkeypatch.setattr(
        delivery,
        "destination_test_send",
        lambda *, destination: {
            "ok": False,
            "status": 401,
            "error": "HTTP 401: invalid signature",
            "latency_ms": 42,
        },
    )

    response = signed_in.post(
        url("destination-test", workspace, destination.public_id), HTTP_HX_REQUEST="true"
    )

    body = html(response)
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="test-result"')
    assert "HTTP 401" in body and "invalid signature" in body and "42 ms" in body


def test_delete_from_the_page(signed_in, workspace):
    destination = DestinationFactory(workspace=workspace, name="Old hook")

    response = signed_in.post(
        url("destination-delete", workspace, destination.public_id), follow=True
    )

    assert "Old hook deleted" in html(response)
    assert (
        signed_in.get(url("destination-edit", workspace, destination.public_id)).status_code == 404
    )


# --- the delivery log and dead letters -------------------------------------------------------


def test_the_delivery_log_filters_and_its_drawer_explains_the_consent_decision(
    signed_in, workspace
):
    meta = DestinationFactory(workspace=workspace, name="Meta", type="meta_capi")
    hook = DestinationFactory(workspace=workspace, name="Hook")
    event = EventFactory(workspace=workspace, message_id="order-77", name="Order Completed")
    blocked = DeliveryFactory(
        destination=meta,
        event=event,
        status="blocked",
        decision={"action": "block", "reasons": ["consent_mode_denied:ad_storage"]},
    )
    delivered = DeliveryFactory(destination=hook, event=event, status="delivered")
    DeliveryAttemptFactory(delivery=delivered, status_code=503, outcome="retry", error="HTTP 503")
    DeliveryAttemptFactory(delivery=delivered, latency_ms=88)
    DeliveryFactory(destination=hook)

    log = signed_in.get(url("deliveries", workspace) + "?message_id=order-77")
    only_blocked = signed_in.get(url("deliveries", workspace) + "?status=blocked")
    drawer = signed_in.get(url("delivery-detail", workspace, blocked.pk), HTTP_HX_REQUEST="true")
    attempts = signed_in.get(url("delivery-detail", workspace, delivered.pk))

    assert html(log).count("data-delivery=") == 2
    assert html(only_blocked).count("data-delivery=") == 1
    assert 'data-action="block"' in html(drawer)
    assert "consent_mode_denied:ad_storage" in html(drawer)
    assert "Consent Mode ad_storage is denied." in html(drawer)
    assert html(drawer).lstrip().startswith("<article")
    assert html(attempts).count('data-outcome="') == 2
    assert "88 ms" in html(attempts)
    for response in (log, only_blocked, drawer, attempts):
        assert_clean(response)


def test_dead_letters_are_listed_and_replayed_one_or_all(signed_in, workspace):
    hook = DestinationFactory(workspace=workspace, name="Hook")
    first, *_others = (
        DeliveryFactory(
            destination=hook,
            status="dead",
            dead_reason="Out of attempts: HTTP 500",
            created_at=timezone.now() - timedelta(minutes=index),
        )
        for index in range(3)
    )

    page = signed_in.get(url("dead-letters", workspace))
    assert html(page).count('<td class="last-error">Out of attempts: HTTP 500</td>') == 3
    one = signed_in.post(url("delivery-replay", workspace, first.pk), follow=True)
    assert f"Delivery {first.pk} is queued again." in html(one)
    everything = signed_in.post(
        url("dead-letters-replay", workspace), {"destination": hook.public_id}, follow=True
    )

    assert "2 dead letters queued again." in html(everything)
    assert set(
        Delivery.objects.for_workspace(workspace)
        .filter(destination=hook)
        .values_list("status", flat=True)
    ) == {"pending"}
    replays = AuditEntry.objects.filter(workspace=workspace, event_type="delivery.replayed")
    assert replays.count() == 2
    assert_clean(page)


def test_a_viewer_cannot_replay(client, workspace, viewer_user):
    dead = DeliveryFactory(destination=DestinationFactory(workspace=workspace), status="dead")
    client.force_login(viewer_user)

    page = client.get(url("dead-letters", workspace))
    response = client.post(url("delivery-replay", workspace, dead.pk))

    assert 'data-testid="replay-one"' not in html(page)
    assert response.status_code == 403
