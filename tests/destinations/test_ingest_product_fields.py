"""Issue 11, "what comes in and what leaves": a product's ``name`` in ``properties`` is the
product's, not a person's. It stays in the event and reaches Meta as ``content_name``; the
person's name comes from traits only. And Meta's ``contents`` items carry only Meta's fields.

Before the fix every Product Viewed sent Meta fn = sha256("cotton"), ln = sha256("socks"), and
no product name."""

import pytest

from destinations.ingestion.services import ingestion_settings_update
from destinations.models import Delivery, Event
from tests.destinations.factories import DestinationFactory
from tests.destinations.helpers import (
    CONSENTED,
    data_get,
    local,
    run_engine,
    send_batch,
    sha256_hex,
)

pytestmark = pytest.mark.django_db


def product_viewed(message_id="pv-1", traits=None):
    return {
        "type": "track",
        "event": "Product Viewed",
        "userId": "user-1",
        "messageId": message_id,
        "properties": {
            "product_id": "P-7",
            "sku": "SOCK-7",
            "name": "Cotton Socks",
            "category": "Apparel",
            "brand": "Knit & Co",
            "variant": "blue",
            "price": 9.5,
            "currency": "EUR",
        },
        "context": {**CONSENTED, "traits": traits or {}},
    }


def test_a_products_name_stays_in_the_event_and_is_never_a_persons_name(client, token):
    send_batch(
        client,
        token,
        product_viewed("named", {"firstName": "Ada", "lastName": "Lovelace"}),
        product_viewed("anonymous"),
    )

    named = data_get(Event, message_id="named")
    assert named.properties["name"] == "Cotton Socks"
    assert named.properties["category"] == "Apparel"
    assert named.identifiers["meta"]["fn"] == sha256_hex("ada")
    assert named.identifiers["meta"]["ln"] == sha256_hex("lovelace")
    assert "properties.name" not in named.validation["removed"]
    anonymous = data_get(Event, message_id="anonymous")
    assert "fn" not in anonymous.identifiers["meta"]
    assert "ln" not in anonymous.identifiers["meta"]


def test_a_full_name_in_traits_is_still_split_and_hashed(client, token):
    send_batch(client, token, product_viewed("traits-name", {"name": "Grace Brewster Hopper"}))

    event = data_get(Event, message_id="traits-name")
    assert event.identifiers["meta"]["fn"] == sha256_hex("grace")
    assert event.identifiers["meta"]["ln"] == sha256_hex("hopper")
    assert "name" not in event.context["traits"]
    assert event.properties["name"] == "Cotton Socks"


def test_a_group_calls_name_is_the_companys_and_never_a_persons(client, token):
    send_batch(
        client,
        token,
        {
            "type": "group",
            "userId": "user-1",
            "groupId": "g-1",
            "messageId": "group",
            "traits": {"name": "Initech Corp", "industry": "Software"},
        },
    )

    event = data_get(Event, message_id="group")
    assert event.traits == {"name": "Initech Corp", "industry": "Software"}
    assert "fn" not in event.identifiers["meta"]
    assert "ln" not in event.identifiers["meta"]


def test_traits_win_over_properties_for_a_persons_fields(client, token):
    event = product_viewed("both", {"email": "ada@example.com"})
    event["properties"]["email"] = "gift-recipient@example.com"
    send_batch(client, token, event)

    stored = data_get(Event, message_id="both")
    assert stored.identifiers["meta"]["em"] == sha256_hex("ada@example.com")
    assert "email" not in stored.properties  # still personal: hashed, never stored raw


def test_a_workspace_pii_path_can_still_hash_properties_name(client, workspace, token, admin_user):

    ingestion_settings_update(
        workspace=workspace, actor=admin_user, values={"pii_paths": ["properties.name"]}
    )
    send_batch(client, token, product_viewed("listed"))

    assert data_get(Event, message_id="listed").properties["name"] == sha256_hex("Cotton Socks")


def test_meta_gets_the_product_name_as_content_name_and_the_persons_name_from_traits(
    client, workspace, token, platforms
):
    DestinationFactory(workspace=workspace, type="meta_capi", config=local("meta_capi", platforms))
    send_batch(client, token, product_viewed("meta", {"firstName": "Ada", "lastName": "Lovelace"}))

    run_engine()

    [received] = platforms.received("meta")
    assert received["user_data"]["fn"] == sha256_hex("ada")
    assert received["user_data"]["ln"] == sha256_hex("lovelace")
    assert received["custom_data"]["content_name"] == "Cotton Socks"
    assert received["custom_data"]["content_category"] == "Apparel"
    assert "name" not in received["custom_data"]
    assert received["custom_data"]["content_ids"] == ["P-7"]
    assert data_get(Delivery).status == "delivered"


def test_meta_contents_items_carry_only_metas_fields(client, workspace, token, platforms):
    DestinationFactory(workspace=workspace, type="meta_capi", config=local("meta_capi", platforms))
    order = {
        "type": "track",
        "event": "Order Completed",
        "userId": "user-1",
        "messageId": "order",
        "properties": {
            "order_id": "A-1",
            "revenue": 19.0,
            "currency": "EUR",
            "products": [
                {"product_id": "P-1", "price": 9.5, "quantity": 2, "name": "Mug", "brand": "B"}
            ],
        },
        "context": {**CONSENTED, "traits": {"email": "ada@example.com"}},
    }
    send_batch(client, token, order)

    run_engine()

    [received] = platforms.received("meta")
    assert received["custom_data"]["contents"] == [{"id": "P-1", "quantity": 2, "item_price": 9.5}]
    assert data_get(Delivery).status == "delivered"
