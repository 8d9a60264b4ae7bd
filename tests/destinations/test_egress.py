"""Destinations under the egress policy: the webhook address gaps of finding 5 are closed in
production mode, and an address is checked again at every send — a name that resolves inward
after it was saved is refused by the test send and by the delivery engine alike."""

import pytest

from destinations import delivery
from destinations.exceptions import DestinationInvalidError
from destinations.models import DeliveryAttempt
from tests.destinations.factories import DestinationFactory
from tests.destinations.helpers import send_batch
from tracklayer import http

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://[64:ff9b::a9fe:a9fe]/in", "link-local"),  # NAT64 of the metadata address
        ("https://[2002:a9fe:a9fe::1]/in", "link-local"),  # 6to4 of it
        ("https://[::a9fe:a9fe]/in", "IPv4-compatible"),
        ("https://[::127.0.0.1]/in", "IPv4-compatible"),
        ("https://[64:ff9b::7f00:1]/in", "loopback"),
        ("https://[2001::1]/in", "Teredo"),
        ("https://100.64.0.1/in", "carrier-grade NAT"),
        ("https://198.18.0.1/in", "benchmarking"),
        ("https://[::ffff:169.254.169.254]/in", "link-local"),
    ],
)
def test_every_spelling_of_an_inward_address_is_refused(production, workspace, url, reason):
    with pytest.raises(DestinationInvalidError) as caught:
        DestinationFactory(workspace=workspace, config={"url": url})

    assert caught.value.field == "url"
    assert reason in caught.value.errors["url"]


@pytest.mark.parametrize("url", ["https://[64:ff9b::808:808]/in", "https://[2002:808:808::1]/in"])
def test_translated_public_addresses_are_accepted(production, workspace, url):
    assert DestinationFactory(workspace=workspace, config={"url": url}).config["url"] == url


def test_outside_production_loopback_follows_the_setting(settings, workspace):
    settings.EGRESS_ALLOW_LOOPBACK = False

    with pytest.raises(DestinationInvalidError) as caught:
        DestinationFactory(workspace=workspace, config={"url": "http://127.0.0.1:6379/"})

    assert "loopback" in caught.value.errors["url"]


@pytest.fixture
def rebinding(monkeypatch):
    """``hooks.rebind.test`` resolves to a public address until ``answers`` is changed."""
    answers = {"hooks.rebind.test": ["93.184.216.34"]}
    real = http.resolve
    monkeypatch.setattr(
        http, "resolve", lambda host, port: answers[host] if host in answers else real(host, port)
    )
    return answers


def test_a_test_send_checks_the_address_again(settings, workspace, rebinding, platforms):
    settings.EGRESS_ALLOW_LOOPBACK = False
    port = platforms.url.rsplit(":", 1)[1]
    destination = DestinationFactory(
        workspace=workspace, config={"url": f"http://hooks.rebind.test:{port}/webhook/hooks/in"}
    )  # saved: the name is public
    rebinding["hooks.rebind.test"] = ["127.0.0.1"]  # now it points inward

    answer = delivery.destination_test_send(destination=destination)

    assert answer["ok"] is False and answer["status"] is None
    assert "egress refused" in answer["error"] and "loopback" in answer["error"]
    assert platforms.received("webhook") == []


def test_the_engine_checks_the_address_at_every_send(settings, client, workspace, token, platforms):
    """Saved while loopback was allowed (as a name resolving inward later would be): the
    worker's send is refused and recorded, and nothing reaches the receiver."""
    destination = DestinationFactory(
        workspace=workspace, config={"url": f"{platforms.url}/webhook/hooks/in"}
    )
    event = {"type": "track", "event": "Signed Up", "userId": "u-1", "messageId": "egress-1"}
    send_batch(client, token, event)
    settings.EGRESS_ALLOW_LOOPBACK = False

    delivery.events_fanout()
    delivery.destination_deliver(destination_id=destination.pk)

    [attempt] = DeliveryAttempt.objects.for_workspace(workspace).filter(destination=destination)
    assert attempt.status_code is None and "egress refused" in attempt.error
    assert platforms.received("webhook") == []
