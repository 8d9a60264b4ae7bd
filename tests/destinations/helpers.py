"""Builders the delivery tests share: ingesting a batch, an order with consent, a destination
config pointing at the local platform servers, running the engine in-process, a dashboard
URL; and for the adapter tests, an outgoing order and sending a built request to the local
platform."""

import hashlib
import urllib.error
import urllib.request
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import orjson
from django.urls import reverse

from destinations import delivery
from destinations.adapters import ItemOutcome, OutgoingEvent, PlatformRequest
from tests.destinations.factories import CONFIGS
from tracklayer import http
from tracklayer.regions import data_aliases

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


# --- adapters ----------------------------------------------------------------------------------


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def outgoing_order(delivery_id: int = 1, *, age=timedelta(minutes=5), now=None, **fields):
    """An order as the engine hands it to an adapter, placed ``age`` before ``now``; each
    field given replaces the default (the platform's event name, user data and click ids
    have none)."""
    now = now or datetime.now(UTC)
    values = {
        "delivery_id": delivery_id,
        "event_id": f"order-{delivery_id}",
        "message_id": f"m-{delivery_id}",
        "event_type": "track",
        "timestamp": now - age,
        "anonymized": False,
        "external_id": sha256_hex("user-42"),
        "ip": "203.0.113.9",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
        "page_url": "https://shop.example/checkout/done",
        "referrer": "https://shop.example/cart",
        "custom_data": {
            "value": 123.45,
            "currency": "EUR",
            "contents": [{"id": "sku-1", "quantity": 2, "item_price": 61.725}],
            "order_id": "order-1",
        },
        "properties": {"coupon": "SPRING", "event_id": f"order-{delivery_id}"},
    }
    return OutgoingEvent(**(values | fields))


def anonymized(event: OutgoingEvent, **changes) -> OutgoingEvent:
    """``event`` as the engine hands it over after a ``deliver_anonymized`` decision: no
    identifiers, no IP address, no click ids."""
    return replace(
        event,
        anonymized=True,
        user_data={},
        external_id="",
        anonymous_id="",
        ip=None,
        click_ids={},
        **changes,
    )


def post_and_parse(adapter, request: PlatformRequest) -> list[ItemOutcome]:
    """Send ``request`` with TrackLayer's HTTP client and read the answer with ``adapter``."""
    answer = http.post(request.url, request.body, headers=request.headers, timeout=5)
    return adapter.parse(
        request=request,
        status=answer.status,
        body=answer.body,
        headers=answer.headers,
        error=answer.error,
    )


def post_raw(request: PlatformRequest, *, url=None, body=None, timeout: float = 5.0):
    """Send as the delivery engine's HTTP client would, to ``url`` or with ``body`` instead
    of the request's own if given: (status, body, headers, error)."""
    outgoing = urllib.request.Request(  # noqa: S310 - http(s) URLs built by the tests
        url or request.url,
        data=request.body if body is None else body,
        headers=request.headers,
        method="POST",
    )
    try:
        with urllib.request.urlopen(outgoing, timeout=timeout) as answer:  # noqa: S310
            return answer.status, answer.read(), dict(answer.headers), ""
    except urllib.error.HTTPError as answer:
        return answer.code, answer.read(), dict(answer.headers), ""
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        return None, b"", {}, f"{type(exc).__name__}: {exc}"


def post_raw_and_parse(adapter, request: PlatformRequest, **options) -> list[ItemOutcome]:
    """``post_raw`` (same options), the answer read with ``adapter``."""
    status, body, headers, error = post_raw(request, **options)
    return adapter.parse(request=request, status=status, body=body, headers=headers, error=error)


def url(name: str, workspace, *args) -> str:
    """The dashboard URL ``destinations:<name>`` of ``workspace`` (then ``args``)."""
    return reverse(f"destinations:{name}", args=[workspace.slug, *args])


def data_rows(model, **filters) -> list:
    """The rows of a data-plane model that match ``filters``, from every region's database:
    what "stored anywhere" means for a test (a query naming one region could miss a row that
    went to the wrong one)."""
    return [row for alias in data_aliases() for row in model.objects.using(alias).filter(**filters)]


def data_count(model, **filters) -> int:
    """How many rows of a data-plane model match ``filters``, over every region's database."""
    return sum(model.objects.using(alias).filter(**filters).count() for alias in data_aliases())


def data_get(model, **filters):
    """The one row of a data-plane model that matches ``filters`` in any region's database
    (as ``.get``: an error when there is none or more than one)."""
    [row] = data_rows(model, **filters)
    return row
