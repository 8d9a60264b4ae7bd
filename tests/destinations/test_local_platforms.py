"""The local platforms refuse what the real platforms refuse, checked over HTTP against the
stand-ins alone: no adapter builds these requests, so a rule the stand-in only shares with the
adapter cannot pass here. Each rule cites the page it comes from in the stand-in's docstring
(destinations/local_platforms/*.py); the webhook signatures are made here with plain ``hmac``
from the scheme in docs/destinations-ga4-webhook.md."""

import ast
import hashlib
import hmac
import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

STAND_INS = Path(__file__).resolve().parents[2] / "destinations" / "local_platforms"
DIGEST = hashlib.sha256(b"jane@example.com").hexdigest()


def post(url: str, body: bytes | dict | list, headers: dict | None = None, method="POST"):
    """(status, parsed JSON body or raw bytes, headers)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - the local server's http URL
        url,
        data=data if method == "POST" else None,
        headers={"Content-Type": "application/json", **(headers or {})},
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            status, raw, got = answer.status, answer.read(), dict(answer.headers)
    except urllib.error.HTTPError as error:
        status, raw, got = error.code, error.read(), dict(error.headers)
    try:
        return status, json.loads(raw), got
    except ValueError:
        return status, raw, got


# --- independence ------------------------------------------------------------------------------


@pytest.mark.parametrize("module", sorted(p.name for p in STAND_INS.glob("*.py")))
def test_a_stand_in_imports_nothing_from_the_code_it_checks(module):
    """Only the standard library and the stand-ins' own helpers: an import of an adapter (or of
    privacy.pii, the settings …) would let a stand-in agree with the adapter's mistakes."""
    tree = ast.parse((STAND_INS / module).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative imports hide what is imported"
            imported.add(node.module or "")
    foreign = {
        name
        for name in imported
        if name.split(".")[0] not in sys.stdlib_module_names
        and not (name + ".").startswith("destinations.local_platforms.")
    }
    assert foreign == set()


# --- GA4 Measurement Protocol --------------------------------------------------------------------


def ga4_event(name="purchase", **params) -> dict:
    return {"name": name, "params": params or {"value": 1, "currency": "EUR"}}


def ga4_body(*events, **fields) -> dict:
    return {"client_id": "123.456", "events": list(events) or [ga4_event()], **fields}


def debug(platforms, body) -> list[dict]:
    status, answer, _ = post(f"{platforms.url}/ga4/debug/mp/collect?measurement_id=G-X", body)
    assert status == 200
    return answer["validationMessages"]


def codes(messages: list[dict]) -> list[str]:
    return [m["validationCode"] for m in messages]


def test_ga4_takes_25_events_and_refuses_26(platforms):
    assert debug(platforms, ga4_body(*[ga4_event()] * 25)) == []

    (message,) = debug(platforms, ga4_body(*[ga4_event()] * 26))
    assert message["fieldPath"] == "events"
    assert message["validationCode"] == "EXCEEDED_MAX_ENTITIES"


def test_an_over_limit_request_is_answered_204_and_drops_every_event(platforms):
    status, _, _ = post(
        f"{platforms.url}/ga4/mp/collect?measurement_id=G-X&api_secret=s",
        ga4_body(*[ga4_event()] * 26),
    )

    assert status == 204  # Google's answer whatever the payload
    assert platforms.received("ga4") == []
    (logged,) = [r for r in platforms.state("ga4").requests if "problem" in r]
    assert logged["dropped"] == 26


def test_the_validation_servers_documented_example_gets_its_documented_answer(platforms):
    messages = debug(platforms, ga4_body(ga4_event("_badEventName")))

    assert messages == [
        {
            "fieldPath": "events",
            "description": "Event at index: [0] has invalid name [_badEventName]. Names must "
            "start with an alphabetic character.",
            "validationCode": "NAME_INVALID",
        }
    ]


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("x" * 41, "NAME_INVALID"),
        ("3d_model_viewed", "NAME_INVALID"),
        ("button clicked", "NAME_INVALID"),
        ("video-played", "NAME_INVALID"),
        ("session_start", "NAME_RESERVED"),
        ("first_visit", "NAME_RESERVED"),
        ("firebase_campaign", "NAME_RESERVED"),
        ("google_offer_shown", "NAME_RESERVED"),
        ("ga_thing", "NAME_RESERVED"),
        ("screen_view", "NAME_RESERVED"),  # app streams only
        ("in_app_purchase", "NAME_RESERVED"),
    ],
)
def test_ga4_refuses_bad_event_names(platforms, name, code):
    messages = debug(platforms, ga4_body(ga4_event(), ga4_event(name)))

    assert codes(messages) == [code]
    assert "index: [1]" in messages[0]["description"]  # names the event, not the request


@pytest.mark.parametrize("name", ["x" * 40, "purchase", "page_view", "achat_réussi", "Signup2"])
def test_ga4_takes_valid_event_names(platforms, name):
    assert debug(platforms, ga4_body(ga4_event(name))) == []


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({f"p{i}": i for i in range(26)}, "EXCEEDED_MAX_ENTITIES"),
        ({"_private": 1}, "NAME_INVALID"),  # as Google's "_badEventName" example
        ({"ga_session": 1}, "NAME_RESERVED"),
        ({"firebase_conversion": 1}, "NAME_RESERVED"),
        ({"order-id": "1"}, "NAME_INVALID"),
        ({"p" * 41: 1}, "NAME_INVALID"),
        ({"note": "x" * 101}, "VALUE_OUT_OF_BOUNDS"),
        ({"page_location": "https://x.test/" + "p" * 986}, "VALUE_OUT_OF_BOUNDS"),  # 1,001
        ({"page_referrer": "r" * 421}, "VALUE_OUT_OF_BOUNDS"),
        ({"page_title": "t" * 301}, "VALUE_OUT_OF_BOUNDS"),
        ({"items": [{"price": 1}]}, "VALUE_REQUIRED"),
        ({"items": [{"item_id": "a", **{f"c{i}": i for i in range(11)}}]}, "EXCEEDED_MAX_ENTITIES"),
        ({"items": [{"item_id": "a", "item_brand": "b" * 101}]}, "VALUE_OUT_OF_BOUNDS"),
    ],
)
def test_ga4_refuses_bad_parameters(platforms, params, code):
    assert codes(debug(platforms, ga4_body({"name": "purchase", "params": params}))) == [code]


def test_ga4_takes_parameters_at_their_limits(platforms):
    params = {f"p{i}": "x" * 100 for i in range(21)}
    params |= {"page_location": "https://x.test/" + "p" * 985, "page_referrer": "r" * 420}
    params |= {"page_title": "t" * 300}
    params["items"] = [{"item_id": "a", **{f"c{i}": i for i in range(10)}}]

    assert debug(platforms, ga4_body({"name": "purchase", "params": params})) == []


def micros(seconds_ago: float) -> int:
    return int((time.time() - seconds_ago) * 1_000_000)


@pytest.mark.parametrize(
    ("fields", "path", "code"),
    [
        ({"client_id": None}, "client_id", "VALUE_REQUIRED"),
        ({"user_id": "u" * 257}, "user_id", "VALUE_INVALID"),
        ({"timestamp_micros": micros(73 * 3600)}, "timestamp_micros", "VALUE_OUT_OF_BOUNDS"),
        ({"timestamp_micros": micros(-3600)}, "timestamp_micros", "VALUE_OUT_OF_BOUNDS"),
        (
            {"user_data": {"sha256_email_address": ["jane@example.com"]}},
            "user_data.sha256_email_address",
            "VALUE_INVALID",
        ),
        ({"consent": {"ad_user_data": "YES"}}, "consent", "VALUE_INVALID"),
    ],
)
def test_ga4_refuses_bad_request_fields(platforms, fields, path, code):
    body = {k: v for k, v in ga4_body(**fields).items() if v is not None}

    (message,) = debug(platforms, body)

    assert (message["fieldPath"], message["validationCode"]) == (path, code)


def test_ga4_takes_request_fields_within_their_limits(platforms):
    body = ga4_body(
        user_id="u" * 256,
        timestamp_micros=micros(71 * 3600),
        user_data={"sha256_email_address": [DIGEST], "address": [{"sha256_first_name": DIGEST}]},
        consent={"ad_user_data": "GRANTED", "ad_personalization": "DENIED"},
    )

    assert debug(platforms, body) == []


def test_ga4_refuses_a_body_of_130_kb(platforms):
    event = ga4_event("purchase", **{f"p{i}": "x" * 100 for i in range(25)})
    body = json.dumps(ga4_body(*[event] * 25)).encode()
    assert len(body) < 130_000
    padded = body[:-1] + b"," + b'"pad": "' + b"x" * (130_000 - len(body)) + b'"}'

    messages = debug(platforms, padded)

    assert "VALUE_OUT_OF_BOUNDS" in codes(messages)
    assert any("130kB" in m["description"] for m in messages)


def test_ga4_drops_everything_sent_with_an_unknown_secret_or_no_measurement_id(platforms):
    for query in ("measurement_id=G-X&api_secret=invalid", "api_secret=s"):
        status, _, _ = post(f"{platforms.url}/ga4/mp/collect?{query}", ga4_body())
        assert status == 204
    assert platforms.received("ga4") == []

    status, _, _ = post(
        f"{platforms.url}/ga4/mp/collect?measurement_id=G-X&api_secret=s", ga4_body()
    )
    assert status == 204
    assert [event["name"] for event in platforms.received("ga4")] == ["purchase"]


def test_ga4_takes_post_only(platforms):
    status, _, headers = post(f"{platforms.url}/ga4/mp/collect", b"", method="GET")

    assert status == 405 and headers["Allow"] == "POST"


# --- Meta Conversions API ------------------------------------------------------------------------

META = "/meta/v25.0/1234567890/events?access_token=EAAtoken"


def meta_event(**changes) -> dict:
    event = {
        "event_name": "Purchase",
        "event_time": int(time.time()) - 60,
        "action_source": "website",
        "event_source_url": "https://shop.example/checkout",
        "user_data": {"em": [DIGEST], "client_user_agent": "Mozilla/5.0"},
    }
    event.update(changes)
    return {k: v for k, v in event.items() if v is not None}


def meta(platforms, *events, path=META):
    status, body, _ = post(platforms.url + path, {"data": list(events)})
    return status, body


def test_meta_takes_1000_events_and_refuses_1001(platforms):
    status, body = meta(platforms, *[meta_event()] * 1000)
    assert (status, body["events_received"]) == (200, 1000)

    status, body = meta(platforms, *[meta_event()] * 1001)
    assert (status, body["error"]["code"]) == (400, 100)


@pytest.mark.parametrize(
    "changes",
    [
        {"event_name": None},
        {"event_time": None},
        {"event_time": "yesterday"},
        {"action_source": None},
        {"action_source": "carrier_pigeon"},
        {"user_data": None},
        {"user_data": {"ct": None}},  # customer information: none at all
        {"user_data": {"em": ["jane@example.com"], "client_user_agent": "Mozilla/5.0"}},
        {"event_source_url": None},  # a website event
        {"user_data": {"em": [DIGEST]}},  # a website event without client_user_agent
        {"custom_data": {"contents": [{"quantity": 1}]}},  # an item without id
    ],
)
def test_meta_refuses_a_request_with_one_invalid_event_whole(platforms, changes):
    status, body = meta(platforms, meta_event(), meta_event(**changes))

    assert status == 400
    assert body["error"]["code"] == 100 and body["error"]["fbtrace_id"]
    assert platforms.received("meta") == []  # "process no events"


def test_meta_refuses_events_older_than_7_days_with_subcode_2804003(platforms):
    status, body = meta(platforms, meta_event(event_time=int(time.time()) - 8 * 86400))

    assert status == 400
    assert (body["error"]["code"], body["error"]["error_subcode"]) == (100, 2804003)


def test_meta_refuses_requests_without_a_usable_token(platforms):
    assert meta(platforms, meta_event(), path=META.split("?")[0])[1]["error"]["code"] == 104
    assert meta(platforms, meta_event(), path=META.replace("EAA", "xyz"))[1]["error"]["code"] == 190


def test_meta_takes_non_website_events_without_browser_fields(platforms):
    event = meta_event(action_source="physical_store", event_source_url=None)
    event["user_data"] = {"ph": [DIGEST]}

    assert meta(platforms, event)[0] == 200


# --- TikTok Events API ---------------------------------------------------------------------------

TIKTOK = "/tiktok/open_api/v1.3/event/track/"


def tiktok_event(**changes) -> dict:
    event = {"event": "CompletePayment", "event_time": int(time.time()) - 60, "event_id": "e1"}
    event.update(changes)
    return {k: v for k, v in event.items() if v is not None}


def tiktok(platforms, events, token="tt-token", **fields):  # noqa: S107 - the stand-in's test token
    body = {"event_source": "web", "event_source_id": "COQDA8RC77U2TMR44LI0", "data": events}
    body.update(fields)
    status, answer, _ = post(platforms.url + TIKTOK, body, {"Access-Token": token} if token else {})
    return status, answer["code"]


def test_tiktok_takes_50_events_and_refuses_51(platforms):
    assert tiktok(platforms, [tiktok_event()] * 50) == (200, 0)
    assert tiktok(platforms, [tiktok_event()] * 51) == (200, 40002)


@pytest.mark.parametrize(
    ("events", "fields"),
    [
        ([tiktok_event(event=None)], {}),
        ([tiktok_event(event_time=None)], {}),
        ([tiktok_event(user={"email": "jane@example.com"})], {}),
        ([tiktok_event()], {"event_source_id": ""}),
        ([tiktok_event()], {"event_source": "carrier_pigeon"}),
        ([], {"data": []}),
    ],
)
def test_tiktok_refuses_missing_or_invalid_fields_with_40002(platforms, events, fields):
    assert tiktok(platforms, [tiktok_event(), *events], **fields) == (200, 40002)
    assert platforms.received("tiktok") == []


def test_tiktok_refuses_a_missing_or_revoked_token_with_40105(platforms):
    assert tiktok(platforms, [tiktok_event()], token=None) == (200, 40105)
    assert tiktok(platforms, [tiktok_event()], token="invalid") == (200, 40105)


# --- the webhook receiver ------------------------------------------------------------------------

SECRET = "whsec_local_test"


def batch(key="whb_1", count=1) -> bytes:
    events = [
        {"messageId": f"m{i}", "event_id": f"m{i}", "type": "track", "event": "E"}
        | {"timestamp": "2026-01-01T00:00:00.000Z", "consent": {"action": "deliver"}}
        for i in range(count)
    ]
    return json.dumps({"id": key, "sent_at": "2026-01-01T00:00:00.000Z", "events": events}).encode()


def v1(secret: str, stamp: int | str, body: bytes) -> str:
    """The documented signature, computed here: lowercase hex HMAC-SHA256 of ``t.body``."""
    return hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()


def hook(platforms, body: bytes, signature: str | None, *, secret=SECRET, **headers):
    sent = {"Idempotency-Key": "whb_1", "X-TrackLayer-Event-Count": "1", **headers}
    if signature is not None:
        sent["X-TrackLayer-Signature"] = signature
    status, answer, _ = post(f"{platforms.url}/webhook/hooks/x?secret={secret}", body, sent)
    return status, answer


def test_the_webhook_receiver_takes_a_documented_signature(platforms):
    now, body = int(time.time()), batch()

    assert hook(platforms, body, f"t={now},v1={v1(SECRET, now, body)}")[0] == 200
    assert len(platforms.received("webhook")) == 1


@pytest.mark.parametrize(
    "make",
    [
        lambda now, body: f"t={now},v1={v1('another-secret', now, body)}",
        lambda now, body: f"t={now},v1={v1(SECRET, now, body + b' ')}",  # another body
        lambda now, body: f"t={now - 301},v1={v1(SECRET, now - 301, body)}",  # stale
        lambda now, body: f"t={now + 301},v1={v1(SECRET, now + 301, body)}",  # from the future
        lambda now, body: f"t={now},v1={v1(SECRET, now, body).upper()}",  # not lowercase hex
        lambda now, body: f"t={now},v1={v1(SECRET, now + 1, body)}",  # signed for another t
        lambda now, body: f"t={now},v0={v1(SECRET, now, body)}",  # unknown scheme only
        lambda now, body: f"v1={v1(SECRET, now, body)}",  # no timestamp
        lambda now, body: f"t={now}",  # no signature
        lambda now, body: f"t=x{now},v1={v1(SECRET, f'x{now}', body)}",  # not unix seconds
        lambda now, body: f"t={now},t={now},v1={v1(SECRET, now, body)}",  # two timestamps
        lambda now, body: f"t={now},v1=é{v1(SECRET, now, body)[1:]}",  # not even ASCII
        lambda now, body: "",
        lambda now, body: None,  # no header at all
    ],
)
def test_the_webhook_receiver_refuses_bad_signatures_with_401(platforms, make):
    now, body = int(time.time()), batch()

    status, answer = hook(platforms, body, make(now, body))

    assert status == 401 and "signature" in answer["error"]
    assert platforms.received("webhook") == []


def test_the_webhook_receiver_ignores_other_schemes_and_tries_every_v1(platforms):
    now, body = int(time.time()), batch()
    header = f"t={now}, v2=future, v1={v1('old', now, body)}, v1={v1(SECRET, now, body)}"

    assert hook(platforms, body, header)[0] == 200


def test_the_webhook_receiver_holds_two_secrets_while_rotating(platforms):
    now, body = int(time.time()), batch()

    status, _ = hook(platforms, body, f"t={now},v1={v1(SECRET, now, body)}", secret=f"new,{SECRET}")

    assert status == 200


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b'{"hello": "world"}', {}),
        (batch(count=2), {}),  # X-TrackLayer-Event-Count says 1
        (batch(key="whb_other"), {}),  # Idempotency-Key says whb_1
        (batch(), {"X-TrackLayer-Event-Count": "two"}),
    ],
)
def test_the_webhook_receiver_refuses_a_signed_body_that_is_not_a_batch_with_400(
    platforms, body, headers
):
    now = int(time.time())

    assert hook(platforms, body, f"t={now},v1={v1(SECRET, now, body)}", **headers)[0] == 400


def test_the_webhook_receiver_takes_a_redelivered_batch_once(platforms):
    now, body = int(time.time()), batch()
    header = f"t={now},v1={v1(SECRET, now, body)}"

    first, second = hook(platforms, body, header), hook(platforms, body, header)

    assert first == (200, {"received": 1, "duplicate": False})
    assert second == (200, {"received": 1, "duplicate": True})
    assert len(platforms.received("webhook")) == 1


# --- the failure knobs still come first ----------------------------------------------------------


@pytest.mark.parametrize(
    ("platform", "path"),
    [
        ("meta", META),
        ("tiktok", TIKTOK),
        ("ga4", "/ga4/mp/collect?measurement_id=G-X&api_secret=s"),
        ("webhook", "/webhook/hooks/x"),
    ],
)
def test_each_stand_in_fails_on_purpose_before_it_validates(platforms, platform, path):
    platforms.behave(platform, mode="error", status=502, count=1)
    assert post(platforms.url + path, b"{}")[0] == 502

    platforms.behave(platform, mode="rate_limit", retry_after=4, count=1)
    status, _, headers = post(platforms.url + path, b"{}")
    assert (status, headers["Retry-After"]) == (429, "4")
