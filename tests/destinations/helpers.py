"""Builders the delivery tests share: ingesting a batch, an order with consent, a destination
config pointing at the local platform servers, and running the engine in-process."""

import orjson

from destinations import delivery
from tests.destinations.factories import CONFIGS

PLATFORM_OF = {
    "meta_capi": "meta",
    "tiktok_events": "tiktok",
    "ga4_mp": "ga4",
    "webhook": "webhook",
}

CONSENTED = {
    "consent": {
        "consentMode": {
            "ad_storage": "granted",
            "analytics_storage": "granted",
            "ad_user_data": "granted",
            "ad_personalization": "granted",
        },
        "categoryPreferences": {"advertising": True, "analytics": True},
    },
    "location": {"country": "DE"},
    "ip": "203.0.113.50",
    "userAgent": "Mozilla/5.0 (test)",
    "page": {"url": "https://shop.example/checkout?fbclid=AbCdEf", "referrer": "https://x.test/"},
}


def send_batch(client, token, *events, headers=None) -> dict:
    """Ingest ``events`` through ``/v1/batch`` with ``token``; the batch must be accepted."""
    response = client.post(
        "/v1/batch",
        orjson.dumps({"batch": list(events)}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        **(headers or {}),
    )
    assert response.status_code == 200, response.content
    return response.json()


def order(message_id: str, *, context=None, **extra) -> dict:
    """An Order Completed call with full consent and an e-mail trait (``context`` replaces
    both)."""
    return {
        "type": "track",
        "event": "Order Completed",
        "userId": "user-77",
        "messageId": message_id,
        "properties": {
            "order_id": "A-1",
            "revenue": 59.9,
            "currency": "eur",
            "products": [{"product_id": "P-1", "price": 29.95, "quantity": 2, "name": "Mug"}],
        },
        "context": {**CONSENTED, "traits": {"email": "Ada@Example.com"}}
        if context is None
        else context,
        **extra,
    }


def local(destination_type: str, platforms) -> dict:
    """A destination's config pointing at the local platform server."""
    config = dict(CONFIGS[destination_type])
    prefix = f"{platforms.url}/{PLATFORM_OF[destination_type]}"
    if destination_type == "webhook":
        config["url"] = f"{prefix}/hooks/shop?secret=whsec_SIGNINGsecret0123456789XYZ4"
    else:
        config["api_base_url"] = prefix
    return config


def run_engine() -> None:
    """Fan out and deliver everything due, as the workers would."""
    while delivery.events_fanout()[0]:
        pass
    for destination_id in delivery.due_destination_ids():
        while delivery.destination_deliver(destination_id=destination_id).more:
            pass
