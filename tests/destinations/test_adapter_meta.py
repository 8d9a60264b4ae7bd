"""The Meta Conversions API adapter against the local Meta platform
(docs/destinations-meta-tiktok.md).

Requests are built by the adapter, sent with TrackLayer's HTTP client to the local server that
checks them as Meta does, and the answers read back by the adapter.
"""

import json
import socket
from datetime import UTC, datetime, timedelta
from functools import partial

import orjson
import pytest

from destinations.adapters import Outcome, OutgoingEvent, PlatformRequest, adapter_for
from destinations.adapters.common import retry_after_seconds
from destinations.adapters.meta import ADAPTER, MAX_BATCH, redact
from tests.destinations.helpers import outgoing_order, post_and_parse, sha256_hex
from tracklayer import http

TOKEN = "EAAGm0PX4ZCpsBAKZAsecretsecretsecret1234"
PIXEL = "1234567890123456"


EM = sha256_hex("john_smith@gmail.com")
PH = sha256_hex("16505551212")
EXTERNAL = sha256_hex("user-42")


def config(platforms, **extra) -> dict:
    return {"pixel_id": PIXEL, "api_base_url": f"{platforms.url}/meta", **extra}


def event(delivery_id=1, **fields) -> OutgoingEvent:
    defaults = {
        "event_name": "Purchase",
        "user_data": {"em": EM, "ph": PH},
        "click_ids": {"fbc": "fb.1.1554763741205.AbCdEf", "fbp": "fb.1.1558571054389.1098115397"},
        "custom_data": {
            "value": 123.45,
            "currency": "EUR",
            "contents": [{"id": "sku-1", "quantity": 2, "item_price": 61.725}],
            "content_ids": ["sku-1"],
            "order_id": "order-1",
        },
    }
    return outgoing_order(delivery_id, **(defaults | fields))


send = partial(post_and_parse, ADAPTER)


def raw_post(platforms, body: dict, *, token=TOKEN, pixel=PIXEL):
    url = f"{platforms.url}/meta/v25.0/{pixel}/events?access_token={token}"
    return http.post(
        url, json.dumps(body).encode(), headers={"Content-Type": "application/json"}, timeout=5
    )


def server_event(**fields) -> dict:
    values = {
        "event_name": "Purchase",
        "event_time": int(datetime.now(UTC).timestamp()),
        "action_source": "website",
        "event_source_url": "https://shop.example/",
        "user_data": {"em": EM, "client_user_agent": "Mozilla/5.0"},
    }
    values.update(fields)
    return values


# --- delivered --------------------------------------------------------------------------------


def test_the_adapter_is_registered_as_meta_capi():
    assert adapter_for("meta_capi") is ADAPTER
    assert (ADAPTER.spec, ADAPTER.max_batch, ADAPTER.max_age) == ("meta", 1000, timedelta(days=7))
    assert ADAPTER.secret_fields == ("access_token",)
    assert ADAPTER.config_fields == ("pixel_id", "test_event_code", "api_base_url")


def test_a_batch_is_accepted_by_meta_and_every_event_delivered(platforms):
    now = datetime.now(UTC)
    events = [event(1, now=now), event(2, now=now)]

    [request] = ADAPTER.build(
        config=config(platforms), secrets={"access_token": TOKEN}, events=events, now=now
    )
    outcomes = send(request)

    assert [(o.delivery_id, o.outcome, o.error) for o in outcomes] == [
        (1, Outcome.DELIVERED, ""),
        (2, Outcome.DELIVERED, ""),
    ]
    assert request.url == f"{platforms.url}/meta/v25.0/{PIXEL}/events?access_token={TOKEN}"
    assert request.delivery_ids == (1, 2)
    first = platforms.received("meta")[0]
    assert first["event_name"] == "Purchase"
    assert first["event_id"] == "order-1"
    assert first["event_time"] == int((now - timedelta(minutes=5)).timestamp())
    assert first["action_source"] == "website"
    assert first["event_source_url"] == "https://shop.example/checkout/done"
    assert first["user_data"] == {
        "em": EM,
        "ph": PH,
        "external_id": EXTERNAL,
        "client_ip_address": "203.0.113.9",
        "client_user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
        "fbc": "fb.1.1554763741205.AbCdEf",
        "fbp": "fb.1.1558571054389.1098115397",
    }
    assert first["custom_data"] == {
        "coupon": "SPRING",
        "value": 123.45,
        "currency": "EUR",
        "contents": [{"id": "sku-1", "quantity": 2, "item_price": 61.725}],
        "content_ids": ["sku-1"],
        "order_id": "order-1",
    }
    assert first["test_event_code"] is None


def test_the_test_event_code_goes_with_the_request_when_configured(platforms):
    now = datetime.now(UTC)
    [request] = ADAPTER.build(
        config=config(platforms, test_event_code="TEST12345"),
        secrets={"access_token": TOKEN},
        events=[event(now=now)],
        now=now,
    )

    assert orjson.loads(request.body)["test_event_code"] == "TEST12345"
    assert send(request)[0].outcome == Outcome.DELIVERED
    assert platforms.received("meta")[0]["test_event_code"] == "TEST12345"


def test_an_event_from_the_future_is_sent_with_the_current_time():
    now = datetime.now(UTC)
    payload = ADAPTER.server_event(event(age=timedelta(minutes=-30), now=now), now)

    assert payload["event_time"] == int(now.timestamp())


def test_only_digests_leave_for_hashed_fields():
    plain = event(user_data={"em": "john@example.com", "ph": ["+16505551212", PH.upper()]})

    data = ADAPTER.user_data(plain)

    assert "em" not in data
    assert data["ph"] == PH  # the digest, lowercased; the plain number dropped


def test_the_default_host_is_metas_graph_api():
    now = datetime.now(UTC)
    [request] = ADAPTER.build(
        config={"pixel_id": PIXEL},
        secrets={"access_token": TOKEN},
        events=[event(now=now)],
        now=now,
    )

    assert request.url.startswith(f"https://graph.facebook.com/v25.0/{PIXEL}/events?access_token=")


# --- batches ----------------------------------------------------------------------------------


def test_events_are_split_into_requests_of_at_most_1000(platforms):
    now = datetime.now(UTC)
    events = [event(i, now=now) for i in range(1, 2002)]

    requests = ADAPTER.build(
        config=config(platforms), secrets={"access_token": TOKEN}, events=events, now=now
    )

    assert [len(r.delivery_ids) for r in requests] == [MAX_BATCH, MAX_BATCH, 1]
    assert requests[1].delivery_ids[0] == 1001
    assert {o.outcome for o in send(requests[0])} == {Outcome.DELIVERED}
    assert len(platforms.received("meta")) == MAX_BATCH


def test_meta_refuses_more_than_1000_events_in_one_request(platforms):
    answer = raw_post(platforms, {"data": [server_event() for _ in range(1001)]})

    assert answer.status == 400
    assert orjson.loads(answer.body)["error"]["code"] == 100
    assert platforms.received("meta") == []


# --- refused before sending (precheck) --------------------------------------------------------


def test_an_event_older_than_seven_days_is_refused_by_precheck():
    now = datetime.now(UTC)

    reason = ADAPTER.precheck(event(age=timedelta(days=7, minutes=1), now=now), now)

    assert reason is not None and "7 days" in reason
    assert ADAPTER.precheck(event(age=timedelta(days=6, hours=23), now=now), now) is None
    # Close to the limit it is refused early: it could cross it on the way.
    assert ADAPTER.precheck(event(age=timedelta(days=7) - timedelta(minutes=5), now=now), now)


def test_meta_refuses_a_request_with_an_old_event_as_a_whole(platforms):
    old = int((datetime.now(UTC) - timedelta(days=8)).timestamp())

    answer = raw_post(platforms, {"data": [server_event(), server_event(event_time=old)]})

    error = orjson.loads(answer.body)["error"]
    assert (answer.status, error["code"], error["error_subcode"]) == (400, 100, 2804003)
    assert error["error_user_title"] == "Event Timestamp Too Old"
    assert platforms.received("meta") == []


def test_an_event_precheck_refuses_is_sent_alone_and_fails_only_itself(platforms):
    now = datetime.now(UTC)
    events = [event(1, now=now), event(2, age=timedelta(days=8), now=now), event(3, now=now)]

    requests = ADAPTER.build(
        config=config(platforms), secrets={"access_token": TOKEN}, events=events, now=now
    )

    assert [r.delivery_ids for r in requests] == [(1, 3), (2,)]
    assert {o.outcome for o in send(requests[0])} == {Outcome.DELIVERED}
    [refused] = send(requests[1])
    assert refused.outcome == Outcome.FAILED
    assert "Event Timestamp Too Old" in refused.error and "2804003" in refused.error


def test_an_anonymized_event_carries_no_identifiers_and_meta_cannot_take_it(platforms):
    now = datetime.now(UTC)
    anonymized = event(
        anonymized=True, user_data={}, external_id="", ip=None, user_agent="", click_ids={}, now=now
    )

    assert ADAPTER.user_data(anonymized) == {}
    assert "without customer information" in ADAPTER.precheck(anonymized, now)
    # Even built anyway (identifiers given by mistake), nothing identifying leaves.
    leaky = event(anonymized=True, now=now)
    assert ADAPTER.server_event(leaky, now)["user_data"] == {}
    [request] = ADAPTER.build(
        config=config(platforms), secrets={"access_token": TOKEN}, events=[leaky], now=now
    )
    [outcome] = send(request)
    assert outcome.outcome == Outcome.FAILED
    assert "customer information" in outcome.error


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"event_name": ""}, "event name"),
        ({"action_source": "app"}, "app_data"),
        ({"action_source": "carrier_pigeon"}, "action_source"),
        ({"user_agent": ""}, "client_user_agent"),
        ({"page_url": ""}, "event_source_url"),
        (
            {
                "user_data": {"ct": sha256_hex("paris")},
                "external_id": "",
                "click_ids": {},
                "ip": None,
            },
            "customer information",
        ),
    ],
)
def test_precheck_names_what_meta_would_refuse(fields, expected):
    now = datetime.now(UTC)

    reason = ADAPTER.precheck(event(now=now, **fields), now)

    assert reason is not None and expected in reason


def test_an_event_from_the_server_side_needs_no_browser_fields():
    now = datetime.now(UTC)
    server_side = event(action_source="system_generated", user_agent="", page_url="", now=now)

    assert ADAPTER.precheck(server_side, now) is None


# --- the local platform checks as Meta does ---------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "title"),
    [
        ({"user_data": {"em": "john@example.com", "client_user_agent": "UA"}}, "Unhashed"),
        ({"user_data": {"ph": PH.upper(), "client_user_agent": "UA"}}, "Unhashed"),
        ({"user_data": {}}, "Missing customer information"),
        ({"event_name": None}, "Invalid parameter"),
        ({"action_source": None}, "Invalid parameter"),
        ({"event_time": "yesterday"}, "Invalid parameter"),
    ],
)
def test_meta_refuses_invalid_events(platforms, fields, title):
    answer = raw_post(platforms, {"data": [server_event(**fields)]})

    error = orjson.loads(answer.body)["error"]
    assert (answer.status, error["code"], error["type"]) == (400, 100, "OAuthException")
    assert error["error_user_title"].startswith(title)
    assert error["fbtrace_id"]
    assert platforms.received("meta") == []


def test_meta_answers_a_wrong_method_or_path_with_graphs_errors(platforms):
    wrong_path = http.post(
        f"{platforms.url}/meta/v25.0/{PIXEL}/evnts", b"{}", headers={}, timeout=5
    )
    wrong_pixel = raw_post(platforms, {"data": [server_event()]}, pixel="my-pixel")

    assert orjson.loads(wrong_path.body)["error"]["code"] == 2500
    assert orjson.loads(wrong_pixel.body)["error"]["error_subcode"] == 33


# --- failures ---------------------------------------------------------------------------------


def test_a_bad_token_fails_with_metas_message_and_never_shows_the_token(platforms):
    now = datetime.now(UTC)
    token = "XYZsecretsecretsecretsecretsecret0001"
    [request] = ADAPTER.build(
        config=config(platforms), secrets={"access_token": token}, events=[event(now=now)], now=now
    )

    [outcome] = send(request)

    assert outcome.outcome == Outcome.FAILED
    assert "Invalid OAuth access token - Cannot parse access token" in outcome.error
    assert "code 190" in outcome.error
    assert token not in outcome.error


def test_a_missing_token_is_refused_by_meta(platforms):
    answer = raw_post(platforms, {"data": [server_event()]}, token="")

    assert orjson.loads(answer.body)["error"]["code"] == 104


def test_an_error_that_echoes_the_token_is_scrubbed():
    request = PlatformRequest(
        f"https://graph.facebook.com/v25.0/{PIXEL}/events?access_token={TOKEN}", {}, b"", (7,)
    )
    body = orjson.dumps(
        {"error": {"message": f"Bad token {TOKEN} in access_token={TOKEN}", "code": 190}}
    )

    [outcome] = ADAPTER.parse(request=request, status=400, body=body, headers={}, error="")

    assert outcome.outcome == Outcome.FAILED
    assert TOKEN not in outcome.error and "EAA" not in outcome.error
    assert "[redacted]" in outcome.error


def test_a_token_is_scrubbed_whether_quoted_or_not():
    token = "Tok|en+with/odd=chars"
    [request] = ADAPTER.build(
        config={"pixel_id": PIXEL},
        secrets={"access_token": token},
        events=[event()],
        now=datetime.now(UTC),
    )
    quoted = request.url.rsplit("=", 1)[1]

    [outcome] = ADAPTER.parse(
        request=request, status=None, body=b"", headers={}, error=f"failed: {token} / {quoted}"
    )

    assert quoted != token
    assert token not in outcome.error and quoted not in outcome.error


def test_no_answer_is_retried_and_the_error_holds_no_token():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    now = datetime.now(UTC)
    [request] = ADAPTER.build(
        config={"pixel_id": PIXEL, "api_base_url": f"http://127.0.0.1:{port}"},
        secrets={"access_token": TOKEN},
        events=[event(now=now)],
        now=now,
    )

    [refused] = send(request)
    [timed_out] = ADAPTER.parse(
        request=request,
        status=None,
        body=b"",
        headers={},
        error=f"ReadTimeoutError: read timed out for {request.url}",
    )

    assert refused.outcome == Outcome.RETRY and refused.error.startswith("No answer from Meta")
    assert timed_out.outcome == Outcome.RETRY
    assert TOKEN not in timed_out.error


@pytest.mark.parametrize(
    ("status", "error", "expected"),
    [
        (400, {"message": "(#17) User request limit reached", "code": 17}, Outcome.RETRY),
        (400, {"message": "(#4) Application request limit reached", "code": 4}, Outcome.RETRY),
        (
            400,
            {"message": "Calls to this api have exceeded the rate limit", "code": 613},
            Outcome.RETRY,
        ),
        (400, {"message": "Too many calls", "code": 80004}, Outcome.RETRY),
        (400, {"message": "Temporary", "code": 100, "is_transient": True}, Outcome.RETRY),
        (500, {"message": "An unknown error occurred", "code": 1}, Outcome.RETRY),
        (
            400,
            {"message": "Invalid parameter", "code": 100, "error_subcode": 2804019},
            Outcome.FAILED,
        ),
        (403, {"message": "(#200) Permissions error", "code": 200}, Outcome.FAILED),
        (408, {"message": "Request timeout", "code": 1}, Outcome.RETRY),
    ],
)
def test_metas_error_codes_decide_between_retry_and_failed(status, error, expected):
    request = PlatformRequest("https://graph.facebook.com/x?access_token=EAAx", {}, b"", (1, 2))

    outcomes = ADAPTER.parse(
        request=request, status=status, body=orjson.dumps({"error": error}), headers={}, error=""
    )

    assert [o.outcome for o in outcomes] == [expected, expected]
    assert error["message"] in outcomes[0].error


def test_an_unexpected_success_count_is_sent_again():
    request = PlatformRequest("https://graph.facebook.com/x", {}, b"", (1, 2))

    outcomes = ADAPTER.parse(
        request=request, status=200, body=b'{"events_received": 1}', headers={}, error=""
    )

    assert {o.outcome for o in outcomes} == {Outcome.RETRY}


def test_retry_after_reads_seconds_and_http_dates():
    assert retry_after_seconds({"retry-after": "30"}) == 30.0
    assert (
        retry_after_seconds(
            {
                "Retry-After": "Wed, 21 Oct 2026 07:30:00 GMT",
                "Date": "Wed, 21 Oct 2026 07:28:00 GMT",
            }
        )
        == 120.0
    )
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({"retry-after": "inf"}) is None
    assert retry_after_seconds({}) is None


def test_redact_keeps_trace_ids_and_trims():
    text = redact("fbtrace_id AZx9KQ2B7TRACE Bearer abcdefgh12345 " + "x" * 400)

    assert "AZx9KQ2B7TRACE" in text and "abcdefgh12345" not in text
    assert len(text) <= 300


# --- configuration ----------------------------------------------------------------------------


def test_validate_config_accepts_a_complete_configuration():
    assert (
        ADAPTER.validate_config(
            {"pixel_id": PIXEL, "test_event_code": "TEST123"}, {"access_token": TOKEN}
        )
        == {}
    )


def test_validate_config_names_each_problem():
    problems = ADAPTER.validate_config(
        {"pixel_id": "pixel-1", "test_event_code": "has spaces", "api_base_url": "ftp://x"},
        {"access_token": " "},
    )

    assert set(problems) == {"pixel_id", "test_event_code", "api_base_url", "access_token"}


# --- custom_data: Meta's documented fields (issue 11) -------------------------------------------


def test_contents_items_keep_only_metas_documented_fields():
    now = datetime.now(UTC)
    custom = {
        "contents": [
            {"id": "P-1", "quantity": 2, "item_price": 9.5, "name": "Mug", "brand": "B"},
            {"id": "P-2", "quantity": 1, "delivery_category": "home_delivery", "sku": "x"},
            {"quantity": 1, "name": "no id"},
        ],
        "content_ids": ["P-1", "P-2"],
    }

    payload = ADAPTER.server_event(event(custom_data=custom, properties={}, now=now), now)

    assert payload["custom_data"]["contents"] == [
        {"id": "P-1", "quantity": 2, "item_price": 9.5},
        {"id": "P-2", "quantity": 1, "delivery_category": "home_delivery"},
    ]


def test_a_products_name_and_category_go_as_content_name_and_content_category():
    now = datetime.now(UTC)
    properties = {"product_id": "P-7", "name": "Cotton Socks", "category": "Apparel"}

    payload = ADAPTER.server_event(event(custom_data={}, properties=properties, now=now), now)
    mapped = ADAPTER.server_event(
        event(custom_data={"content_name": "Mapped"}, properties=properties, now=now), now
    )

    assert payload["custom_data"] == {
        "product_id": "P-7",
        "content_name": "Cotton Socks",
        "content_category": "Apparel",
    }
    assert mapped["custom_data"]["content_name"] == "Mapped"  # the destination's mapping wins


def test_the_local_meta_refuses_undocumented_contents_fields_like_meta(platforms):
    custom_data = {"contents": [{"id": "P-1", "quantity": 1, "name": "Mug"}]}

    answer = raw_post(platforms, {"data": [server_event(custom_data=custom_data)]})

    assert answer.status == 400
    error = orjson.loads(answer.body)["error"]
    assert error["code"] == 100
    assert "name" in error["error_user_msg"]
    assert platforms.received("meta") == []


@pytest.mark.parametrize(
    "custom_data",
    [
        "text",
        {"contents": {"id": "P-1"}},
        {"contents": [{"quantity": 1}]},
        {"contents": ["P-1"]},
    ],
)
def test_the_local_meta_refuses_malformed_custom_data(platforms, custom_data):
    answer = raw_post(platforms, {"data": [server_event(custom_data=custom_data)]})

    assert answer.status == 400
    assert orjson.loads(answer.body)["error"]["code"] == 100


def test_the_local_meta_accepts_every_documented_contents_field(platforms):
    item = {"id": "P-1", "quantity": 1, "item_price": 2.5, "delivery_category": "in_store"}

    answer = raw_post(platforms, {"data": [server_event(custom_data={"contents": [item]})]})

    assert answer.status == 200


@pytest.mark.parametrize("name", ["", " ", "\t\n"])
def test_a_blank_event_name_is_refused_by_precheck(name):
    # A page or screen call named only with whitespace: the platform would see no name
    now = datetime.now(UTC)

    reason = ADAPTER.precheck(event(event_name=name, now=now), now)

    assert reason is not None and "event name" in reason
