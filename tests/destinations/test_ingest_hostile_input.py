"""Issue 11, finding 1: what PostgreSQL or Python would refuse is refused per event, with a
named 4xx, before it reaches the writer — and a mixed batch keeps its good events.

Before the fix each of these reached the group-commit statement (or crashed in Python) and
answered 500, failing other workspaces' requests that shared the commit."""

import json

import orjson
import pytest
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from destinations.exceptions import InvalidBodyError
from destinations.ingestion import envelope as ingestion
from destinations.ingestion import runtime
from destinations.ingestion.envelope import (
    MAX_DEPTH,
    Rejected,
    body_json,
    input_problems,
    prepare_event,
)
from destinations.models import Event, EventOperational
from tests.destinations.helpers import data_get, data_rows

pytestmark = pytest.mark.django_db


def post(client, path, body, token, **headers):
    # json, not orjson: orjson cannot write more than 254 levels.
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(
        path, data, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}", **headers
    )


def event(message_id="m-1", **extra):
    return {"type": "track", "event": "x", "userId": "u", "messageId": message_id, **extra}


def nested(depth: int, leaf=1):
    value = leaf
    for _ in range(depth):
        value = {"a": value}
    return value


def only_error(response) -> dict:
    (rejected,) = response.json()["rejected"]
    (error,) = rejected["errors"]
    return error


# --- NUL ----------------------------------------------------------------------------------------


def test_the_reported_nul_property_is_a_named_400_not_a_500(client, token):
    response = post(
        client, "/v1/track", {"event": "x", "userId": "u", "properties": {"a": "\u0000"}}, token
    )

    assert response.status_code == 400
    error = only_error(response)
    assert error["field"] == "properties.a"
    assert error["code"] == "nul_character"
    assert "NUL" in error["message"]
    assert not data_rows(Event)


@pytest.mark.parametrize(
    ("where", "field"),
    [
        ({"event": "x\u0000"}, "event"),
        ({"userId": "u\u0000"}, "userId"),
        ({"anonymousId": "\u0000"}, "anonymousId"),
        ({"traits": {"email": "a\u0000@example.com"}}, "traits.email"),
        ({"context": {"userAgent": "Mozilla\u0000"}}, "context.userAgent"),
        ({"context": {"page": {"url": "https://x/\u0000"}}}, "context.page.url"),
        ({"integrations": {"All": "\u0000"}}, "integrations.All"),
        (
            {"properties": {"products": [{"sku": "s"}, {"sku": "\u0000"}]}},
            "properties.products[1].sku",
        ),
        ({"timestamp": "2026-01-01T00:00:00\u0000"}, "timestamp"),
    ],
)
def test_nul_anywhere_in_the_event_is_refused_by_its_path(client, token, where, field):
    response = post(client, "/v1/track", {**event(), **where}, token)

    assert response.status_code == 400
    assert only_error(response)["field"] == field
    assert only_error(response)["code"] == "nul_character"


def test_nul_in_a_key_is_refused_and_the_path_shows_it_escaped(client, token):
    response = post(client, "/v1/track", event(properties={"a\u0000b": 1}), token)

    assert response.status_code == 400
    assert only_error(response) == {
        "field": "properties.a\\u0000b",
        "code": "nul_character",
        "message": "The key contains a NUL character (\\u0000), which cannot be stored.",
    }


def test_a_nul_message_id_is_refused_without_being_repeated(client, token):
    response = post(client, "/v1/track", event("m\u0000"), token)

    assert response.status_code == 400
    assert response.json()["rejected"][0]["messageId"] is None
    assert only_error(response)["field"] == "messageId"


# --- lone surrogates ------------------------------------------------------------------------------


def test_a_lone_surrogate_refuses_its_event_and_keeps_the_rest_of_the_batch(client, token):
    # orjson refuses the whole body; JSON itself allows the escape (browsers write it for half
    # an emoji), so only the event that holds it is refused.
    body = (
        b'{"batch": [' + orjson.dumps(event("good")) + b","
        b'{"type": "track", "event": "x", "userId": "u", "messageId": "bad",'
        b' "properties": {"title": "\\ud83d cut"}},'
        b'{"type": "track", "event": "x", "userId": "u", "messageId": "bad-key",'
        b' "properties": {"\\udc00": 1}}]}'
    )

    response = post(client, "/v1/batch", body, token)

    assert response.status_code == 200
    answer = response.json()
    assert answer["accepted"] == 1
    errors = {item["messageId"]: item["errors"] for item in answer["rejected"]}
    assert errors["bad"] == [
        {
            "field": "properties.title",
            "code": "lone_surrogate",
            "message": "The text contains a lone UTF-16 surrogate, which is not valid Unicode.",
        }
    ]
    assert errors["bad-key"][0]["field"] == "properties.\\udc00"
    assert [event.message_id for event in data_rows(Event)] == ["good"]


def test_a_lone_surrogate_in_a_single_event_is_a_named_400(client, token):
    body = b'{"event": "x", "userId": "u", "properties": {"a": "\\ud800"}}'

    response = post(client, "/v1/track", body, token)

    assert response.status_code == 400
    assert only_error(response)["code"] == "lone_surrogate"


def test_utf8_encoded_surrogates_are_refused_like_escaped_ones(client, token):
    response = post(client, "/v1/track", b'{"event": "x", "userId": "\xed\xa0\x80"}', token)

    assert response.status_code == 400
    assert only_error(response)["code"] == "lone_surrogate"


# --- depth ----------------------------------------------------------------------------------------


def test_the_reported_300_deep_single_event_is_a_named_400(client, token):
    response = post(client, "/v1/track", event(properties=nested(300)), token)

    assert response.status_code == 400
    error = only_error(response)
    assert error["code"] == "too_deep"
    assert error["field"].startswith("properties.a.a")
    assert str(MAX_DEPTH) in error["message"]


@pytest.mark.parametrize("path", ["/v1/batch", "/v1/events"])
def test_a_300_deep_event_in_a_batch_is_refused_and_the_others_kept(client, token, path):
    response = post(
        client, path, {"batch": [event("good"), event("deep", properties=nested(300))]}, token
    )

    assert response.status_code == 200
    assert response.json()["accepted"] == 1
    assert response.json()["rejected"][0]["errors"][0]["code"] == "too_deep"


def test_nesting_up_to_the_limit_is_kept(client, token):
    # The event is level 1, properties the first of the nested objects.
    at_limit = event("at", properties=nested(MAX_DEPTH - 1))
    beyond = event("beyond", properties=nested(MAX_DEPTH))

    response = post(client, "/v1/batch", {"batch": [at_limit, beyond]}, token)

    assert response.json()["accepted"] == 1
    assert response.json()["rejected"][0]["messageId"] == "beyond"


@pytest.mark.parametrize("path", ["/v1/track", "/v1/batch"])
def test_nesting_beyond_what_the_parser_takes_is_invalid_json(client, token, path):
    body = b'{"batch": [' * (path == "/v1/batch") + b"[" * 5000 + b"]" * 5000
    body += b"]}" * (path == "/v1/batch")

    response = post(client, path, body, token)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


def test_deep_nesting_after_a_lone_surrogate_is_invalid_json_not_a_recursion_error(client, token):
    body = b'{"a": "\\ud800", "b": ' + b"[" * 5000 + b"]" * 5000 + b"}"

    response = post(client, "/v1/track", body, token)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


# --- numbers --------------------------------------------------------------------------------------


@pytest.mark.parametrize("token_text", [b"NaN", b"Infinity", b"-Infinity", b"9" * 4301])
def test_numbers_json_cannot_hold_are_invalid_json(client, token, token_text):
    response = post(
        client, "/v1/track", b'{"event": "x", "userId": "u", "n": ' + token_text + b"}", token
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


@pytest.mark.parametrize(
    "literal", [b"1e400", b"-1e400", b"0.1E+99999", b"9" * 400, b"-" + b"9" * 400]
)
def test_a_number_literal_too_large_for_a_double_is_refused_per_event(client, token, literal):
    # Found in review of issue 11: orjson refused such a literal with the whole body, so one
    # event holding ``1e400`` cost its batch every good event, and no field was named.
    body = (
        b'{"batch": ['
        + orjson.dumps(event("good"))
        + b', {"type": "track", "event": "x", "userId": "u", "messageId": "big",'
        b' "properties": {"n": ' + literal + b"}}]}"
    )

    response = post(client, "/v1/batch", body, token)

    assert response.status_code == 200
    assert response.json()["accepted"] == 1
    (rejected,) = response.json()["rejected"]
    assert rejected["messageId"] == "big"
    assert [(e["field"], e["code"]) for e in rejected["errors"]] == [
        ("properties.n", "number_out_of_range")
    ]
    assert [event.message_id for event in data_rows(Event)] == ["good"]


def test_a_single_event_with_an_overflowing_number_is_a_named_400(client, token):
    response = post(
        client, "/v1/track", b'{"event": "x", "userId": "u", "properties": {"f": 1e400}}', token
    )

    assert response.status_code == 400
    assert only_error(response) == {
        "field": "properties.f",
        "code": "number_out_of_range",
        "message": "Numbers must fit in a double (up to about 1.8e308); NaN and infinities are "
        "not JSON.",
    }


def test_numbers_out_of_range_are_refused_when_another_parser_let_them_through(client, token):
    # The standard library (the fallback for lone surrogates) reads 1e400 as infinity and
    # keeps integers exact: both are refused by their path.
    body = (
        b'{"batch": [{"type": "track", "event": "x", "userId": "u", "messageId": "s",'
        b' "properties": {"a": "\\ud800"}},'
        b'{"type": "track", "event": "x", "userId": "u", "messageId": "big",'
        b' "properties": {"n": 123456789012345678901234567890, "f": 1e400}},'
        + orjson.dumps(event("good"))
        + b"]}"
    )

    response = post(client, "/v1/batch", body, token)

    assert response.json()["accepted"] == 1
    errors = {item["messageId"]: item["errors"] for item in response.json()["rejected"]}
    assert sorted((e["field"], e["code"]) for e in errors["big"]) == [
        ("properties.f", "number_out_of_range"),
        ("properties.n", "number_out_of_range"),
    ]


@pytest.mark.parametrize(
    ("value", "refused"),
    [
        (2**64 - 1, False),
        (-(2**63), False),
        (2**64, True),
        (-(2**63) - 1, True),
        (float("nan"), True),
        (float("inf"), True),
        (-float("inf"), True),
        (1e308, False),
        (object(), True),
    ],
)
def test_input_problems_bounds_numbers_and_types(value, refused):
    assert bool(input_problems({"properties": {"n": value}})) is refused


def test_input_problems_is_iterative_and_stops_at_a_bounded_number_of_errors():
    deep: list = []
    node = deep
    for _ in range(100_000):  # far beyond Python's recursion limit
        node.append([])
        node = node[0]
    assert [e.code for e in input_problems(deep)] == ["too_deep"]
    many = {f"k{i}": "\x00" for i in range(1000)}
    assert len(input_problems(many)) == 20


def test_prepare_event_refuses_what_json_cannot_write(workspace):
    config = runtime.workspace_runtime(workspace=workspace).config
    prepared = prepare_event(
        event(properties={"n": 2**70}),
        index=0,
        kind=None,
        received_at=timezone.now(),
        config=config,
        size=None,
    )
    assert isinstance(prepared, Rejected)
    assert prepared.errors[0].code == "number_out_of_range"


# --- timestamps -----------------------------------------------------------------------------------


def test_the_reported_timestamps_that_overflowed_the_skew_correction_are_a_named_400(client, token):
    response = post(
        client,
        "/v1/track",
        event(originalTimestamp="0001-01-01T00:00:00Z", sentAt="9999-12-31T00:00:00Z"),
        token,
    )

    assert response.status_code == 400
    errors = response.json()["rejected"][0]["errors"]
    assert {(e["field"], e["code"]) for e in errors} == {
        ("originalTimestamp", "timestamp_out_of_range"),
        ("sentAt", "timestamp_out_of_range"),
    }


@pytest.mark.parametrize(
    "extra",
    [
        {"timestamp": "9999-12-31T23:59:59-23:59"},
        {"timestamp": "0001-01-01T00:00:00+23:59"},
        {"timestamp": "1969-12-31T23:59:59Z"},
        {"timestamp": "2100-01-01T00:00:00Z"},
        {"originalTimestamp": "2026-01-01T00:00:00Z", "sentAt": "0001-01-01T00:00:00Z"},
    ],
)
def test_times_outside_the_window_are_refused_never_overflowing(client, token, extra):
    response = post(client, "/v1/track", event(**extra), token)

    assert response.status_code == 400
    assert "timestamp_out_of_range" in {e["code"] for e in response.json()["rejected"][0]["errors"]}


def test_a_corrected_event_time_before_2000_or_in_the_future_is_refused(client, token):
    old = post(client, "/v1/track", event("old", timestamp="1999-12-31T23:59:59Z"), token)
    now = timezone.now()
    ahead = (now + timezone.timedelta(days=2)).isoformat()
    future = post(client, "/v1/track", event("future", timestamp=ahead), token)

    assert only_error(old) == {
        "field": "timestamp",
        "code": "timestamp_out_of_range",
        "message": "The event time (after clock-skew correction) is before 2000-01-01.",
    }
    assert only_error(future)["code"] == "timestamp_in_future"


def test_a_device_clock_reset_to_1970_is_corrected_not_refused(client, token):
    # Both times from the broken clock: the offset between them is what counts.
    response = post(
        client,
        "/v1/track",
        event("reset", originalTimestamp="1970-01-01T00:00:10Z", sentAt="1970-01-01T00:01:10Z"),
        token,
    )

    assert response.status_code == 200
    stored = data_get(Event, message_id="reset")
    assert stored.timestamp == stored.received_at - timezone.timedelta(minutes=1)


# --- the batch's own fields, the request's address ---------------------------------------------


def test_a_batch_level_context_that_cannot_be_stored_refuses_each_event_by_its_path(client, token):
    response = post(
        client,
        "/v1/batch",
        {"batch": [event("a"), event("b")], "context": {"page": {"title": "\u0000"}}},
        token,
    )

    assert response.status_code == 400
    assert [item["errors"][0]["field"] for item in response.json()["rejected"]] == [
        "batch.context.page.title",
        "batch.context.page.title",
    ]


@pytest.mark.parametrize("context", [[1], "text", 7])
def test_a_batch_level_context_that_is_not_an_object_is_a_named_400(client, token, context):
    response = post(client, "/v1/batch", {"batch": [event()], "context": context}, token)

    assert response.status_code == 400
    assert only_error(response) == {
        "field": "batch.context",
        "code": "invalid_type",
        "message": "Give a JSON object.",
    }


def test_a_forwarded_address_that_is_not_an_ip_is_dropped_not_sent_to_the_inet_column(
    client, token, settings
):
    settings.INGEST_TRUST_PROXY = True

    response = post(
        client, "/v1/track", event(context={"userAgent": "UA"}), token, HTTP_X_FORWARDED_FOR="junk"
    )

    assert response.status_code == 200
    assert data_get(EventOperational).ip is None


@pytest.mark.parametrize("ip", ["fe80::1%eth0", "fe80::1%25"])
def test_an_ip_with_a_zone_index_is_dropped_with_a_warning(client, token, ip):
    # Python's ipaddress reads it; PostgreSQL's inet refuses it, and would fail the commit.
    response = post(client, "/v1/track", event(context={"ip": ip, "userAgent": "UA"}), token)

    assert response.status_code == 200
    assert response.json()["warnings"][0]["warnings"][0]["code"] == "invalid_ip"
    assert data_get(EventOperational).ip == "127.0.0.1"  # the request's own address


def test_json_module_fallback_refuses_nan_constants():

    with pytest.raises(InvalidBodyError):
        body_json(b'{"a": "\\ud800", "n": NaN}')
    assert body_json(b'{"a": "\\ud800"}') == json.loads('{"a": "\\ud800"}')


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(
        alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=())
    ),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None, database=None)
@given(value=json_values, depth=st.integers(min_value=0, max_value=31))
def test_the_fast_check_never_passes_what_the_walk_refuses(value, depth):
    if ingestion._plainly_fine(value, depth):
        assert ingestion._walk(value, "", depth) == []


@settings(max_examples=300, deadline=None, database=None)
@given(value=json_values)
def test_what_input_problems_passes_the_writer_can_encode(value):
    if not input_problems({"properties": value}):
        written = orjson.dumps({"properties": value})
        assert b"\\u0000" not in written
