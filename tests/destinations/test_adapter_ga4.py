"""The GA4 Measurement Protocol adapter: requests built as Google documents them, sent to the
local GA4 (which validates like Google's validation server), and every answer read back into
outcomes — including the ones Google never reports (a 2xx for dropped events)."""

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from urllib.parse import parse_qs, urlsplit

import pytest

from destinations.adapters import adapter_for
from destinations.adapters.base import ItemOutcome, Outcome, OutgoingEvent, PlatformRequest
from destinations.adapters.ga4 import MAX_BODY, GA4Adapter, client_id_for, ga4_name
from destinations.local_platforms.server import LocalPlatforms
from privacy import pii
from tests.destinations.helpers import anonymized, post_raw, post_raw_and_parse

ADAPTER: GA4Adapter = adapter_for("ga4_mp")
MEASUREMENT_ID = "G-TEST12345"
SECRET = "mp-secret-1"
EMAIL = "Jane.Doe@gmail.com"
HEX64 = re.compile(r"[0-9a-f]{64}")


def hashed(field: str, value: str) -> str:
    return pii.hashed(field, value, spec="google", default_region="US")


def make_event(delivery_id: int = 1, **changes) -> OutgoingEvent:
    now = datetime.now(UTC)
    event = OutgoingEvent(
        delivery_id=delivery_id,
        event_id=f"order-{delivery_id}",
        message_id=f"msg-{delivery_id}",
        event_name="Order Completed",
        event_type="track",
        timestamp=now - timedelta(hours=1),
        anonymized=False,
        user_data={
            "em": hashed("em", EMAIL),
            "ph": hashed("ph", "(650) 555-1212"),
            "fn": hashed("fn", "Jane"),
            "ln": hashed("ln", "Doe"),
            "ct": hashed("ct", "San Francisco"),
            "zp": hashed("zp", "94107"),
            "country": hashed("country", "US"),
        },
        external_id=hashed("external_id", "user-42"),
        anonymous_id="anon-1",
        ip="203.0.113.7",
        user_agent="Mozilla/5.0 (X11; Linux x86_64)",
        click_ids={"gclid": "Cj0KCQ"},
        page_url="https://shop.example/checkout?step=pay",
        referrer="https://shop.example/cart",
        custom_data={
            "value": 25.5,
            "currency": "eur",
            "order_id": "1001",
            "contents": [{"id": "A-1", "quantity": 2, "item_price": 12.75}],
        },
        properties={
            "order_id": "1001",
            "total": 25.5,
            "coupon": "SPRING",
            "products": [
                {"product_id": "A-1", "name": "Tea", "price": 12.75, "quantity": 2},
            ],
        },
        consent={"consent_mode": {"ad_user_data": True, "ad_personalization": False}},
    )
    return replace(event, **changes)


send = post_raw
deliver = partial(post_raw_and_parse, ADAPTER)


def body_of(request: PlatformRequest) -> dict:
    return json.loads(request.body)


def config(platforms: LocalPlatforms, **changes) -> dict:
    return {"measurement_id": MEASUREMENT_ID, "api_base_url": f"{platforms.url}/ga4", **changes}


def build(platforms, events, *, secret: str = SECRET, now=None, **config_changes):
    return ADAPTER.build(
        config=config(platforms, **config_changes),
        secrets={"api_secret": secret},
        events=events,
        now=now or datetime.now(UTC),
    )


def problems_logged(platforms) -> list[dict]:
    return [entry for entry in platforms.state("ga4").requests if "problem" in entry]


# --- the request, as documented ------------------------------------------------------------------


def test_a_purchase_is_built_as_google_documents_it_and_accepted(platforms):
    # Given an order with identifiers and Consent Mode signals
    event = make_event()

    # When it is built and sent
    (request,) = build(platforms, [event])
    outcomes = deliver(request)

    # Then the request is Google's: URL, query, body
    url = urlsplit(request.url)
    assert url.path == "/ga4/mp/collect"
    assert parse_qs(url.query) == {"measurement_id": [MEASUREMENT_ID], "api_secret": [SECRET]}
    assert request.headers["Content-Type"] == "application/json"
    assert request.delivery_ids == (1,)
    body = body_of(request)
    assert re.fullmatch(r"[1-9][0-9]*\.[1-9][0-9]{9}", body["client_id"])
    assert body["user_id"] == event.external_id
    assert body["user_data"] == {
        "sha256_email_address": [hashed("em", EMAIL)],
        "sha256_phone_number": [hashed("ph", "+16505551212")],
        "address": [
            {"sha256_first_name": hashed("fn", "Jane"), "sha256_last_name": hashed("ln", "Doe")}
        ],
    }
    assert body["consent"] == {"ad_user_data": "GRANTED", "ad_personalization": "DENIED"}
    assert body["ip_override"] == "203.0.113.7"
    assert body["user_agent"] == event.user_agent
    (sent,) = body["events"]
    assert sent["name"] == "purchase"
    assert sent["timestamp_micros"] == int(event.timestamp.timestamp() * 1_000_000)
    params = sent["params"]
    assert params["transaction_id"] == "1001"
    assert params["value"] == 25.5
    assert params["currency"] == "EUR"
    assert params["items"] == [
        {"item_id": "A-1", "item_name": "Tea", "price": 12.75, "quantity": 2}
    ]
    assert params["page_location"] == "https://shop.example/checkout?step=pay"
    assert params["coupon"] == "SPRING" and params["total"] == 25.5
    assert "order_id" not in params and "products" not in params

    # And Google's 2xx is read as delivered, and the local GA4 recorded the purchase
    assert outcomes == [ItemOutcome(1, Outcome.DELIVERED)]
    (received,) = platforms.received("ga4")
    assert received["name"] == "purchase" and received["measurement_id"] == MEASUREMENT_ID
    assert received["user_id"] == event.external_id
    assert problems_logged(platforms) == []


def test_only_the_hashed_fields_google_documents_hashed_are_sent(platforms):
    # City, postal code and country are sent in clear to Google; TrackLayer holds only hashes
    (request,) = build(platforms, [make_event()])
    user_data = body_of(request)["user_data"]

    address = user_data["address"][0]
    assert set(address) == {"sha256_first_name", "sha256_last_name"}
    values = [*user_data["sha256_email_address"], *user_data["sha256_phone_number"]]
    assert all(HEX64.fullmatch(v) for v in [*values, *address.values()])
    assert EMAIL.lower() not in request.body.decode()


def test_a_value_that_is_not_a_hash_never_leaves(platforms):
    event = make_event(user_data={"em": "jane@example.com", "ph": hashed("ph", "+16505551212")})

    (request,) = build(platforms, [event])

    assert body_of(request)["user_data"] == {"sha256_phone_number": [hashed("ph", "+16505551212")]}
    assert b"jane@example.com" not in request.body


def test_every_built_request_passes_the_validation_server(platforms):
    events = [
        make_event(1),
        make_event(2, event_name="Product Viewed", properties={"product_id": "A-1", "name": "Tea"}),
        make_event(3, event_type="page", event_name="Checkout", custom_data={}, properties={}),
        make_event(4, event_name="Button Clicked", custom_data={}, properties={"label": "Buy"}),
        anonymized(make_event(5)),
    ]

    for request in build(platforms, events):
        status, body, _, _ = send(request, url=request.url.replace("/mp/", "/debug/mp/"))
        assert status == 200
        assert json.loads(body) == {"validationMessages": []}
    assert platforms.received("ga4") == []  # the validation server records nothing


def test_client_id_is_stable_per_visitor_scoped_to_the_property_and_never_personal():
    first, second = make_event(1), make_event(2, message_id="msg-2")
    other_visitor = make_event(3, anonymous_id="anon-2")

    assert client_id_for(first, MEASUREMENT_ID) == client_id_for(second, MEASUREMENT_ID)
    assert client_id_for(first, MEASUREMENT_ID) != client_id_for(other_visitor, MEASUREMENT_ID)
    assert client_id_for(first, MEASUREMENT_ID) != client_id_for(first, "G-OTHER1234")
    assert "anon" not in client_id_for(first, MEASUREMENT_ID)
    # a signed-in user without anonymousId is keyed on the hashed external id
    signed_in = make_event(anonymous_id="")
    assert client_id_for(signed_in, MEASUREMENT_ID) == client_id_for(
        make_event(9, anonymous_id="", message_id="msg-9"), MEASUREMENT_ID
    )


def test_the_tags_own_client_id_is_used_when_the_engine_passes_it():
    event = make_event(click_ids={"ga_client_id": "1197596843.1673515099"})
    assert client_id_for(event, MEASUREMENT_ID) == "1197596843.1673515099"

    malformed = make_event(click_ids={"ga_client_id": "jane@example.com"})
    assert client_id_for(malformed, MEASUREMENT_ID) != "jane@example.com"


def test_anonymized_events_carry_no_user_id_user_data_or_ip_and_are_linked_to_nothing(platforms):
    # Given two anonymized events of the same visitor
    one = anonymized(make_event(1))
    two = anonymized(make_event(2, message_id="msg-2"))

    # When they are built and sent
    requests = build(platforms, [one, two])
    outcomes = [outcome for request in requests for outcome in deliver(request)]

    # Then no identifier leaves, consent is stated as denied, and the query string is gone
    assert len(requests) == 2  # each is its own client
    bodies = [body_of(r) for r in requests]
    for body in bodies:
        assert {"user_id", "user_data", "ip_override"}.isdisjoint(body)
        assert body["consent"] == {"ad_user_data": "DENIED", "ad_personalization": "DENIED"}
        assert body["events"][0]["params"]["page_location"] == "https://shop.example/checkout"
    assert bodies[0]["client_id"] != bodies[1]["client_id"]
    assert {o.outcome for o in outcomes} == {Outcome.DELIVERED}
    assert len(platforms.received("ga4")) == 2


def test_user_data_is_withheld_when_ad_user_data_is_denied(platforms):
    event = make_event(consent={"consent_mode": {"ad_user_data": False}})

    (request,) = build(platforms, [event])

    body = body_of(request)
    assert "user_data" not in body
    assert body["consent"] == {"ad_user_data": "DENIED"}


def test_custom_parameters_are_snake_case_capped_and_free_of_personal_data(platforms):
    properties = {
        "email": "jane@example.com",
        "note": "write to jane@example.com",
        "firstName": "Jane",
        "plan Type": "pro",
        "isTrial": True,
        "long": "x" * 150,
        "nested": {"a": 1},
        "ga_campaign": "reserved prefix",
        **{f"extra{i}": i for i in range(40)},
    }
    event = make_event(event_name="Plan Chosen", custom_data={}, properties=properties)

    (request,) = build(platforms, [event])
    params = body_of(request)["events"][0]["params"]

    assert {"email", "note", "first_name", "nested", "ga_campaign"}.isdisjoint(params)
    assert params["plan_type"] == "pro"
    assert params["is_trial"] == "true"
    assert params["long"] == "x" * 100
    assert len(params) == 25
    assert deliver(request) == [ItemOutcome(1, Outcome.DELIVERED)]
    assert len(platforms.received("ga4")) == 1


def test_a_page_url_holding_an_email_address_loses_its_query(platforms):
    event = make_event(page_url="https://shop.example/welcome?email=jane%40example.com&x=1")

    (request,) = build(platforms, [event])

    assert body_of(request)["events"][0]["params"]["page_location"] == (
        "https://shop.example/welcome"
    )


# --- batching ------------------------------------------------------------------------------------


def test_events_are_split_at_25_per_request_and_all_accepted(platforms):
    events = [make_event(i, message_id=f"msg-{i}") for i in range(1, 61)]

    requests = build(platforms, events)

    assert [len(r.delivery_ids) for r in requests] == [25, 25, 10]
    assert [d for r in requests for d in r.delivery_ids] == list(range(1, 61))
    outcomes = [o for r in requests for o in deliver(r)]
    assert [o.delivery_id for o in outcomes] == list(range(1, 61))
    assert {o.outcome for o in outcomes} == {Outcome.DELIVERED}
    assert len(platforms.received("ga4")) == 60
    assert problems_logged(platforms) == []


def test_a_request_carries_the_events_of_one_client_only(platforms):
    jane = [make_event(i, message_id=f"msg-{i}") for i in (1, 3, 5)]
    john = [
        make_event(i, message_id=f"msg-{i}", anonymous_id="anon-2", external_id="") for i in (2, 4)
    ]

    requests = build(platforms, [jane[0], john[0], jane[1], john[1], jane[2]])

    assert [r.delivery_ids for r in requests] == [(1, 3, 5), (2, 4)]
    assert [body_of(r).get("user_id") for r in requests] == [jane[0].external_id, None]


def test_requests_stay_under_130_kb(platforms):
    products = [
        {"product_id": f"SKU-{n:05d}", "name": "A rather long product name " * 3, "price": 1.5}
        for n in range(200)
    ]
    events = [
        make_event(i, message_id=f"msg-{i}", properties={"products": products})
        for i in range(1, 26)
    ]

    requests = build(platforms, events)

    assert len(requests) > 1
    assert all(len(r.body) < MAX_BODY for r in requests)
    outcomes = [o for r in requests for o in deliver(r)]
    assert {o.outcome for o in outcomes} == {Outcome.DELIVERED}
    assert len(platforms.received("ga4")) == 25


def test_long_page_urls_keep_what_google_keeps_and_the_local_ga4_accepts_them(platforms):
    # Given a landing page URL of 600 characters (UTM tags and all) and a 500-character referrer
    location = "https://shop.example/landing?utm_source=news&q=" + "a" * 553
    referrer = "https://blog.example/" + "r" * 479
    event = make_event(page_url=location, referrer=referrer)

    # When it is built and sent
    (request,) = build(platforms, [event])
    outcomes = deliver(request)

    # Then page_location is whole (Google keeps 1,000) and page_referrer cut at Google's 420,
    # not at the 100 characters of ordinary parameters
    params = body_of(request)["events"][0]["params"]
    assert params["page_location"] == location
    assert params["page_referrer"] == referrer[:420]
    assert outcomes == [ItemOutcome(1, Outcome.DELIVERED)]


# --- precheck ------------------------------------------------------------------------------------


def test_events_older_than_72_hours_are_refused_before_sending():
    now = datetime.now(UTC)

    assert ADAPTER.precheck(make_event(timestamp=now - timedelta(hours=71)), now) is None
    reason = ADAPTER.precheck(make_event(timestamp=now - timedelta(hours=73)), now)
    assert reason.startswith("too_old:")
    # a margin: an event that passes is still under 72 hours when Google receives it
    assert ADAPTER.precheck(make_event(timestamp=now - timedelta(hours=71, minutes=58)), now)


def test_an_old_event_sent_anyway_is_dropped_by_ga4_behind_a_2xx(platforms):
    old = make_event(timestamp=datetime.now(UTC) - timedelta(hours=80))

    (request,) = build(platforms, [old])
    status, _, _, _ = send(request)

    assert status == 204
    assert platforms.received("ga4") == []
    (logged,) = problems_logged(platforms)
    assert logged["validationMessages"][0]["validationCode"] == "VALUE_OUT_OF_BOUNDS"


@pytest.mark.parametrize(
    ("name", "event_type", "code"),
    [
        ("3D Model Viewed", "track", "event_name_invalid"),
        ("x" * 41, "track", "event_name_invalid"),
        ("✓ ✓", "track", "event_name_invalid"),
        ("session_start", "track", "event_name_reserved"),
        ("Google Offer Shown", "track", "event_name_reserved"),
        ("firebase_thing", "track", "event_name_reserved"),
        ("In App Purchase", "track", "event_name_app_only"),
        ("Home", "screen", "event_name_app_only"),
        ("", "identify", "unsupported_type"),
        ("", "alias", "unsupported_type"),
    ],
)
def test_names_and_calls_ga4_refuses_are_refused_before_sending(name, event_type, code):
    event = make_event(event_name=name, event_type=event_type)

    reason = ADAPTER.precheck(event, datetime.now(UTC))

    assert reason is not None and reason.startswith(f"{code}:")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Order Completed", "purchase"),
        ("Product Added", "add_to_cart"),
        ("Button Clicked", "button_clicked"),
        ("AddToCart", "add_to_cart"),
        ("video-played.v2", "video_played_v2"),
        ("achat_réussi", "achat_réussi"),
        ("purchase", "purchase"),
    ],
)
def test_valid_names_become_ga4_names(platforms, name, expected):
    event = make_event(event_name=name)

    assert ADAPTER.precheck(event, datetime.now(UTC)) is None
    (request,) = build(platforms, [event])
    assert body_of(request)["events"][0]["name"] == expected


def test_ga4_name_is_snake_case():
    assert ga4_name("  checkoutStepViewed ") == "checkout_step_viewed"
    assert ga4_name("Sign-Up / Step 2") == "sign_up_step_2"


def test_an_invalid_event_sent_anyway_is_dropped_behind_a_2xx_and_reported_by_debug(platforms):
    # Given a batch of one valid and one reserved name (precheck would have refused it)
    good = make_event(1, message_id="msg-1")
    bad = make_event(2, message_id="msg-2", event_name="session_start")
    (request,) = build(platforms, [good, bad])

    # When it is sent to /mp/collect: 204, and the reserved one is silently dropped
    assert deliver(request) == [
        ItemOutcome(1, Outcome.DELIVERED),
        ItemOutcome(2, Outcome.DELIVERED),
    ]
    assert [r["name"] for r in platforms.received("ga4")] == ["purchase"]
    (logged,) = problems_logged(platforms)
    assert logged["validationMessages"][0]["validationCode"] == "NAME_RESERVED"

    # And the validation server's answer fails exactly the event it names
    debug = request.url.replace("/mp/collect", "/debug/mp/collect")
    outcomes = deliver(request, url=debug)
    assert [o.outcome for o in outcomes] == [Outcome.DELIVERED, Outcome.FAILED]
    assert outcomes[1].error.startswith("NAME_RESERVED:")


def test_a_request_level_validation_message_fails_every_event():
    request = PlatformRequest("https://x.test/debug/mp/collect", {}, b"{}", (7, 8))
    message = {
        "fieldPath": "client_id",
        "description": "Measurement requires a client_id.",
        "validationCode": "VALUE_REQUIRED",
    }
    body = json.dumps({"validationMessages": [message]}).encode()

    outcomes = ADAPTER.parse(request=request, status=200, body=body, headers={}, error="")

    assert [o.outcome for o in outcomes] == [Outcome.FAILED, Outcome.FAILED]
    assert outcomes[0].error == "VALUE_REQUIRED: Measurement requires a client_id."


# --- answers -------------------------------------------------------------------------------------


def test_a_wrong_api_secret_is_silent_like_googles(platforms):
    (request,) = build(platforms, [make_event()], secret="invalid")

    outcomes = deliver(request)

    # Google answers 2xx and drops the events; nothing in the answer says so
    assert outcomes == [ItemOutcome(1, Outcome.DELIVERED)]
    assert platforms.received("ga4") == []
    (logged,) = problems_logged(platforms)
    assert "api_secret" in logged["problem"]


@pytest.mark.parametrize("status", [400, 403, 404, 301])
def test_other_statuses_fail_without_leaking_the_secret(status):
    url = f"https://www.google-analytics.com/mp/collect?measurement_id=G-X1234&api_secret={SECRET}"
    request = PlatformRequest(url, {}, b"{}", (3,))
    body = f"bad request for api_secret={SECRET}".encode()

    (outcome,) = ADAPTER.parse(request=request, status=status, body=body, headers={}, error="")

    assert outcome.outcome is Outcome.FAILED
    assert SECRET not in outcome.error and outcome.error.startswith(f"HTTP {status}")


def test_408_and_retry_after_dates_are_understood():
    request = PlatformRequest("https://x.test/mp/collect", {}, b"{}", (1,))
    later = (datetime.now(UTC) + timedelta(seconds=120)).strftime("%a, %d %b %Y %H:%M:%S GMT")

    (outcome,) = ADAPTER.parse(
        request=request, status=408, body=b"", headers={"retry-after": later}, error=""
    )

    assert outcome.outcome is Outcome.RETRY
    assert 100 < outcome.retry_after <= 120


# --- settings ------------------------------------------------------------------------------------


def test_validate_config_accepts_a_web_stream_and_refuses_what_cannot_work():
    assert ADAPTER.validate_config({"measurement_id": MEASUREMENT_ID}, {"api_secret": SECRET}) == {}
    eu = {"measurement_id": MEASUREMENT_ID, "api_base_url": "https://region1.google-analytics.com"}
    assert ADAPTER.validate_config(eu, {"api_secret": SECRET}) == {}

    problems = ADAPTER.validate_config(
        {"measurement_id": "UA-1234-1", "api_base_url": "ftp://example.com"}, {"api_secret": ""}
    )
    assert set(problems) == {"measurement_id", "api_secret", "api_base_url"}
    problems = ADAPTER.validate_config(
        {"measurement_id": MEASUREMENT_ID, "api_base_url": "https://x.test/?a=1"},
        {"api_secret": SECRET},
    )
    assert set(problems) == {"api_base_url"}


def test_the_adapter_declares_its_contract():
    assert ADAPTER.type == "ga4_mp"
    assert ADAPTER.max_batch == 25
    assert ADAPTER.max_age == timedelta(hours=72)
    assert ADAPTER.secret_fields == ("api_secret",)
    assert ADAPTER.config_fields == ("measurement_id", "property_id", "api_base_url")
    assert ADAPTER.optional_secret_fields == ("service_account_key",)
    assert ADAPTER.spec == "google"
    (request,) = ADAPTER.build(
        config={"measurement_id": MEASUREMENT_ID},
        secrets={"api_secret": SECRET},
        events=[make_event()],
        now=datetime.now(UTC),
    )
    assert request.url.startswith("https://www.google-analytics.com/mp/collect?")
