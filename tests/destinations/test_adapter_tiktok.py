"""The TikTok Events API adapter against the local TikTok platform
(docs/destinations-meta-tiktok.md).

Requests are built by the adapter, sent with TrackLayer's HTTP client to the local server that
checks them as TikTok does, and the answers read back by the adapter.
"""

import json
from datetime import UTC, datetime, timedelta
from functools import partial

import orjson
import pytest

from destinations.adapters import Outcome, OutgoingEvent, PlatformRequest, adapter_for
from destinations.adapters.tiktok import ADAPTER, MAX_BATCH
from tests.destinations.helpers import outgoing_order, post_and_parse, sha256_hex
from tracklayer import http

TOKEN = "c8947ce24f6cd19daf4073304848a6b9d0cd89ca"  # TikTok tokens: 40 lowercase hex digits
PIXEL = "COQDA8RC77U2TMR44LI0"


EM = sha256_hex("john_smith@gmail.com")
PH = sha256_hex("+16505551212")
EXTERNAL = sha256_hex("user-42")


def config(platforms, **extra) -> dict:
    return {"pixel_code": PIXEL, "api_base_url": f"{platforms.url}/tiktok", **extra}


def event(delivery_id=1, **fields) -> OutgoingEvent:
    defaults = {
        "event_name": "CompletePayment",
        "user_data": {"em": EM, "ph": PH},
        "click_ids": {"ttclid": "E.C.P.abc123", "ttp": "2F7h37YkS1j57AYSKTI7IHhJPYH"},
    }
    return outgoing_order(delivery_id, **(defaults | fields))


send = partial(post_and_parse, ADAPTER)


def build(platforms, events, *, token=TOKEN, now=None, **extra):
    return ADAPTER.build(
        config=config(platforms, **extra),
        secrets={"access_token": token},
        events=events,
        now=now or datetime.now(UTC),
    )


def raw_post(platforms, body: dict, *, token=TOKEN):
    return http.post(
        f"{platforms.url}/tiktok/open_api/v1.3/event/track/",
        json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Access-Token": token},
        timeout=5,
    )


def track_event(**fields) -> dict:
    values = {
        "event": "CompletePayment",
        "event_time": int(datetime.now(UTC).timestamp()),
        "event_id": "e-1",
        "user": {"email": EM},
    }
    values.update(fields)
    return values


def body_with(*events) -> dict:
    return {"event_source": "web", "event_source_id": PIXEL, "data": list(events)}


def code_of(answer) -> int:
    return orjson.loads(answer.body)["code"]


# --- delivered --------------------------------------------------------------------------------


def test_the_adapter_is_registered_as_tiktok_events():
    assert adapter_for("tiktok_events") is ADAPTER
    assert (ADAPTER.spec, ADAPTER.max_batch, ADAPTER.max_age) == ("tiktok", 50, timedelta(days=7))
    assert ADAPTER.secret_fields == ("access_token",)
    assert ADAPTER.config_fields == ("pixel_code", "test_event_code", "api_base_url")


def test_a_batch_is_accepted_by_tiktok_and_every_event_delivered(platforms):
    now = datetime.now(UTC)

    [request] = build(platforms, [event(1, now=now), event(2, now=now)], now=now)
    outcomes = send(request)

    assert [(o.delivery_id, o.outcome, o.error) for o in outcomes] == [
        (1, Outcome.DELIVERED, ""),
        (2, Outcome.DELIVERED, ""),
    ]
    assert request.url == f"{platforms.url}/tiktok/open_api/v1.3/event/track/"
    assert request.headers["Access-Token"] == TOKEN
    assert TOKEN.encode() not in request.body
    body = orjson.loads(request.body)
    assert (body["event_source"], body["event_source_id"]) == ("web", PIXEL)
    assert "test_event_code" not in body
    first = platforms.received("tiktok")[0]
    assert first["event"] == "CompletePayment"
    assert first["event_id"] == "order-1"
    assert first["event_time"] == int((now - timedelta(minutes=5)).timestamp())
    assert first["user"] == {
        "email": EM,
        "phone": PH,
        "external_id": EXTERNAL,
        "ttclid": "E.C.P.abc123",
        "ttp": "2F7h37YkS1j57AYSKTI7IHhJPYH",
        "ip": "203.0.113.9",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
    }
    assert first["properties"] == {
        "coupon": "SPRING",
        "value": 123.45,
        "currency": "EUR",
        "contents": [{"content_id": "sku-1", "quantity": 2, "price": 61.725}],
        "order_id": "order-1",
        "content_type": "product",
    }
    assert first["page"] == {
        "url": "https://shop.example/checkout/done",
        "referrer": "https://shop.example/cart",
    }


def test_the_test_event_code_goes_with_the_request_when_configured(platforms):
    [request] = build(platforms, [event()], test_event_code="TEST12345")

    assert send(request)[0].outcome == Outcome.DELIVERED
    assert platforms.received("tiktok")[0]["test_event_code"] == "TEST12345"


def test_the_default_host_is_tiktoks_business_api():
    now = datetime.now(UTC)
    [request] = ADAPTER.build(
        config={"pixel_code": PIXEL}, secrets={"access_token": TOKEN}, events=[event()], now=now
    )

    assert request.url == "https://business-api.tiktok.com/open_api/v1.3/event/track/"


def test_an_anonymized_event_carries_no_identifiers_and_is_delivered(platforms):
    anonymized = event(
        anonymized=True, user_data={}, external_id="", ip=None, user_agent="", click_ids={}
    )
    leaky = event(2, anonymized=True)  # identifiers given by mistake: still none leave

    requests = build(platforms, [anonymized, leaky])

    assert ADAPTER.precheck(anonymized, datetime.now(UTC)) is None
    assert {o.outcome for o in send(requests[0])} == {Outcome.DELIVERED}
    assert [e["user"] for e in platforms.received("tiktok")] == [{}, {}]


def test_only_digests_leave_for_email_phone_and_external_id():
    user = ADAPTER.user(
        event(user_data={"em": "john@example.com", "ph": [PH.upper(), "+1650"]}, external_id="42")
    )

    assert "email" not in user and "external_id" not in user
    assert user["phone"] == PH


# --- batches ----------------------------------------------------------------------------------


def test_events_are_split_into_requests_of_at_most_50(platforms):
    now = datetime.now(UTC)

    requests = build(platforms, [event(i, now=now) for i in range(1, 121)], now=now)

    assert [len(r.delivery_ids) for r in requests] == [MAX_BATCH, MAX_BATCH, 20]
    for request in requests:
        assert {o.outcome for o in send(request)} == {Outcome.DELIVERED}
    assert len(platforms.received("tiktok")) == 120


def test_tiktok_refuses_more_than_50_events_in_one_request(platforms):
    answer = raw_post(platforms, body_with(*[track_event() for _ in range(51)]))

    assert (answer.status, code_of(answer)) == (200, 40002)
    assert platforms.received("tiktok") == []


# --- refused before sending (precheck) --------------------------------------------------------


def test_an_event_older_than_seven_days_is_refused_by_precheck():
    now = datetime.now(UTC)

    reason = ADAPTER.precheck(event(age=timedelta(days=7, minutes=1), now=now), now)

    assert reason is not None and "7 days" in reason
    assert ADAPTER.precheck(event(age=timedelta(days=6), now=now), now) is None
    assert "event name" in ADAPTER.precheck(event(event_name="", now=now), now)


def test_an_event_precheck_refuses_is_sent_alone_and_fails_only_itself(platforms):
    now = datetime.now(UTC)
    events = [event(1, now=now), event(2, age=timedelta(days=8), now=now)]

    requests = build(platforms, events, now=now)

    assert [r.delivery_ids for r in requests] == [(1,), (2,)]
    assert send(requests[0])[0].outcome == Outcome.DELIVERED
    [refused] = send(requests[1])
    assert refused.outcome == Outcome.FAILED
    assert "more than 7 days old" in refused.error and "code 40002" in refused.error


# --- the local platform checks as TikTok does -------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        track_event(user={"email": "john@example.com"}),
        track_event(user={"phone": [PH.upper()]}),
        track_event(user={"external_id": "user-42"}),
        track_event(event=""),
        track_event(event_time=None),
    ],
)
def test_tiktok_refuses_invalid_events(platforms, bad):
    answer = raw_post(platforms, body_with(track_event(), bad))

    assert (answer.status, code_of(answer)) == (200, 40002)
    assert platforms.received("tiktok") == []


def test_tiktok_refuses_a_request_without_its_pixel_or_source(platforms):
    no_source = raw_post(platforms, {"event_source_id": PIXEL, "data": [track_event()]})
    no_pixel = raw_post(platforms, {"event_source": "web", "data": [track_event()]})

    assert code_of(no_source) == code_of(no_pixel) == 40002


def test_tiktok_answers_a_wrong_path_or_method_with_an_http_error(platforms):
    wrong_path = http.post(f"{platforms.url}/tiktok/open_api/v1.3/pixel/track/", b"{}", headers={})
    request = PlatformRequest(f"{platforms.url}/tiktok/open_api/v1.3/pixel/track/", {}, b"", (1,))

    assert wrong_path.status == 404
    [outcome] = ADAPTER.parse(
        request=request,
        status=wrong_path.status,
        body=wrong_path.body,
        headers=wrong_path.headers,
        error=wrong_path.error,
    )
    assert outcome.outcome == Outcome.FAILED


# --- failures ---------------------------------------------------------------------------------


def test_a_bad_token_fails_with_tiktoks_message(platforms):
    [request] = build(platforms, [event()], token="invalid")

    [outcome] = send(request)

    assert outcome.outcome == Outcome.FAILED
    assert "Access token is incorrect or has been revoked" in outcome.error
    assert "code 40105" in outcome.error


def test_a_missing_token_is_refused_by_tiktok(platforms):
    assert code_of(raw_post(platforms, body_with(track_event()), token="")) == 40105


def test_an_error_that_echoes_the_token_is_scrubbed():
    request = PlatformRequest(
        "https://business-api.tiktok.com/x", {"Access-Token": TOKEN}, b"", (1,)
    )
    body = orjson.dumps(
        {"code": 40105, "message": f"Token {TOKEN} is not valid", "request_id": "R1"}
    )

    [outcome] = ADAPTER.parse(request=request, status=200, body=body, headers={}, error="")

    assert outcome.outcome == Outcome.FAILED
    assert TOKEN not in outcome.error and "[redacted]" in outcome.error
    assert "request_id R1" in outcome.error


def test_no_answer_is_retried_and_the_error_holds_no_token():
    request = PlatformRequest(
        "https://business-api.tiktok.com/x", {"Access-Token": TOKEN}, b"", (1,)
    )

    [outcome] = ADAPTER.parse(
        request=request,
        status=None,
        body=b"",
        headers={},
        error=f"ReadTimeoutError: Access-Token: {TOKEN} timed out",
    )

    assert outcome.outcome == Outcome.RETRY
    assert outcome.error.startswith("No answer from TikTok") and TOKEN not in outcome.error


@pytest.mark.parametrize(
    ("status", "answer", "headers", "expected", "wait"),
    [
        (200, {"code": 0, "message": "OK"}, {}, Outcome.DELIVERED, None),
        (
            200,
            {"code": 40100, "message": "Too many requests"},
            {"Retry-After": "3"},
            Outcome.RETRY,
            3.0,
        ),
        (200, {"code": 50002, "message": "Internal error"}, {}, Outcome.RETRY, None),
        (200, {"code": 40002, "message": "Invalid param"}, {}, Outcome.FAILED, None),
        (200, {"code": 40001, "message": "No permission"}, {}, Outcome.FAILED, None),
        (503, {"code": 50000, "message": "Down"}, {"retry-after": "9"}, Outcome.RETRY, 9.0),
        (408, {}, {}, Outcome.RETRY, None),
        (400, {"message": "Bad request"}, {}, Outcome.FAILED, None),
    ],
)
def test_tiktoks_codes_decide_between_delivered_retry_and_failed(
    status, answer, headers, expected, wait
):
    request = PlatformRequest(
        "https://business-api.tiktok.com/x", {"Access-Token": TOKEN}, b"", (1, 2)
    )

    outcomes = ADAPTER.parse(
        request=request, status=status, body=orjson.dumps(answer), headers=headers, error=""
    )

    assert [(o.outcome, o.retry_after) for o in outcomes] == [(expected, wait), (expected, wait)]


def test_a_success_without_tiktoks_envelope_is_sent_again():
    request = PlatformRequest("https://business-api.tiktok.com/x", {}, b"", (1,))

    [outcome] = ADAPTER.parse(
        request=request, status=200, body=b"<html>ok</html>", headers={}, error=""
    )

    assert outcome.outcome == Outcome.RETRY


# --- configuration ----------------------------------------------------------------------------


def test_validate_config_accepts_a_complete_configuration():
    assert ADAPTER.validate_config({"pixel_code": PIXEL}, {"access_token": TOKEN}) == {}


def test_validate_config_names_each_problem():
    problems = ADAPTER.validate_config(
        {"pixel_code": "my pixel", "test_event_code": "a b", "api_base_url": "business-api"},
        {},
    )

    assert set(problems) == {"pixel_code", "test_event_code", "api_base_url", "access_token"}


@pytest.mark.parametrize("name", ["", " ", "\t\n"])
def test_a_blank_event_name_is_refused_by_precheck(name):
    # A page or screen call named only with whitespace: the platform would see no name
    now = datetime.now(UTC)

    reason = ADAPTER.precheck(event(event_name=name, now=now), now)

    assert reason is not None and "event name" in reason
