"""Batches through the write path as SDKs send them (issue 17): a large batch stored whole,
duplicates inside a batch and against stored rows, text PostgreSQL could mangle stored exactly,
a refused event refused alone, concurrent copies of a whole batch stored once; what the events
of one request share (consent, IP) worked out once without changing any event's answer; and
the event store's indexes after destinations 0009, with the queries that need them."""

import threading

import orjson
import pytest
from django.db import connections
from django.test import Client
from django.utils import timezone

from destinations.ingestion import runtime
from destinations.ingestion.envelope import (
    CONSENT_KEYS,
    Prepared,
    RequestMemo,
    prepare_event,
)
from destinations.models import Event, EventMessageId, EventOperational
from privacy import consent as consent_module
from tests.bench import seed
from tests.destinations.helpers import data_count, data_get, data_rows
from tracklayer.regions import data_aliases
from workspaces.models import ApiKeyRole

pytestmark = pytest.mark.django_db

TC_STRING = "CQSbk4AQSbk4ANwAAAENAwCgAAAAAAAAAAYgACPAAAAA.IDKQA4AAgAKAGQAygAAA"


@pytest.fixture
def token(workspace, make_api_key):
    return make_api_key(workspace, role=ApiKeyRole.WRITE)[1]


def post(client, body, token, path="/v1/batch"):
    return client.post(
        path,
        orjson.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def event(message_id: str, **extra) -> dict:
    return {
        "type": "track",
        "event": "Order Completed",
        "userId": f"user-{message_id}",
        "messageId": message_id,
        "timestamp": "2026-11-23T10:15:30.120Z",
        "properties": {"order_id": message_id, "value": 59.9, "currency": "EUR"},
        "context": {
            "ip": "203.0.113.7",
            "userAgent": "Mozilla/5.0 (Linux; Android 14) Chrome/124.0 Mobile",
            "traits": {"email": f"{message_id}@example.com"},
            "consent": {"tcString": TC_STRING, "consentMode": {"ad_user_data": "granted"}},
        },
        **extra,
    }


def test_a_500_event_batch_is_stored_whole_with_its_keys_and_operational_rows(client, token):
    answer = post(client, {"batch": [event(f"big-{n}") for n in range(500)]}, token)

    assert answer.status_code == 200, answer.content
    assert answer.json() == {"accepted": 500, "duplicates": 0, "rejected": [], "success": True}
    ids = {row.message_id for row in data_rows(Event, message_id__startswith="big-")}
    assert ids == {f"big-{n}" for n in range(500)}
    assert data_count(EventMessageId, message_id__startswith="big-") == 500
    stored = data_get(Event, message_id="big-321")
    assert stored.properties == {"order_id": "big-321", "value": 59.9, "currency": "EUR"}
    assert stored.timestamp.isoformat() == "2026-11-23T10:15:30.120000+00:00"
    assert stored.consent["tcf_string"] == TC_STRING
    assert "email" not in orjson.dumps(stored.context).decode()
    operational = data_get(EventOperational, event_id=stored.pk)
    assert (operational.ip, operational.user_agent) == (
        "203.0.113.7",
        "Mozilla/5.0 (Linux; Android 14) Chrome/124.0 Mobile",
    )
    assert data_count(EventOperational, workspace_id=stored.workspace_id) == 500


def test_duplicates_inside_a_batch_and_against_stored_rows_are_stored_once(client, token):
    first = post(client, {"batch": [event(f"d-{n}") for n in (1, 2, 1, 3, 2)]}, token)
    again = post(client, {"batch": [event(f"d-{n}") for n in (3, 4, 4, 5)]}, token)

    assert first.json()["accepted"] == 3 and first.json()["duplicates"] == 2
    assert again.json()["accepted"] == 2 and again.json()["duplicates"] == 2
    for n in range(1, 6):
        assert data_count(Event, message_id=f"d-{n}") == 1
        assert data_count(EventMessageId, message_id=f"d-{n}") == 1


ODD = {
    "emoji": "🧾 order 👩🏽‍💻",
    "controls": "tab\there\nnew line\r\nand \u2028 \u2029 \u0085 \u007f \u0001",
    "backslashes": "C:\\orders\\new \\N \\. \\\\",
    "escapes as text": "\\u0000 is six characters here, not a NUL",
    "quotes": "she said \"hi\" 'twice'",
    "rtl and combining": "שלום e\u0301 \u202eevil\u202c",
    "copy markers": "\\.\n\\N\t|",
    "ключ.с.точками": {"nested": ["a\tb", "", None, 1.5e-7, 0.1, 2**64 - 1]},
}


def test_odd_text_is_stored_exactly_and_a_nul_is_refused_alone(client, token):
    events = [event(f"odd-{n}") for n in range(100)]
    events[7]["properties"] = dict(ODD)
    events[8]["properties"] = {"bad": "a\x00b"}
    events[9]["messageId"] = "odd-9 \\ \t é 🧾"

    answer = post(client, {"batch": events}, token).json()

    assert answer["accepted"] == 99
    assert [(r["index"], r["errors"][0]["code"]) for r in answer["rejected"]] == [
        (8, "nul_character")
    ]
    assert data_get(Event, message_id="odd-7").properties == ODD
    assert data_count(Event, message_id="odd-8") == 0
    assert data_count(Event, message_id="odd-9 \\ \t é 🧾") == 1


def test_a_batch_with_refused_events_keeps_every_good_one(client, token):
    events = [event(f"part-{n}") for n in range(120)]
    for n in (0, 50, 119):
        events[n].pop("userId")  # no userId nor anonymousId
    events[60]["timestamp"] = "yesterday"

    answer = post(client, {"batch": events}, token).json()

    assert answer["accepted"] == 116
    assert sorted(r["index"] for r in answer["rejected"]) == [0, 50, 60, 119]
    assert data_count(Event, message_id__startswith="part-") == 116
    assert data_count(Event, message_id="part-60") == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("group_commit", [False, True], ids=["own-transaction", "group-commit"])
def test_concurrent_copies_of_a_whole_batch_are_stored_once(
    workspace, make_api_key, settings, group_commit
):
    settings.EVENTS_GROUP_COMMIT = group_commit
    _, key = make_api_key(workspace)
    batch = {"batch": [event(f"race-{n}") for n in range(100)]}
    answers = []
    start = threading.Barrier(4)

    def send():
        start.wait()
        answers.append(post(Client(), batch, key).json())
        connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(answer["accepted"] for answer in answers) == 100
    assert sum(answer["duplicates"] for answer in answers) == 300
    assert data_count(Event, message_id__startswith="race-") == 100
    assert data_count(EventOperational, workspace_id=workspace.pk) == 100


# --- What the events of one request share ------------------------------------------------------


def _prepare(workspace, raw: dict, memo: RequestMemo | None, index: int = 0) -> Prepared:
    prepared = prepare_event(
        raw,
        index=index,
        kind=None,
        received_at=timezone.now(),
        config=runtime.workspace_runtime(workspace=workspace).config,
        size=None,
        request_ip="198.51.100.4",
        memo=memo,
    )
    assert isinstance(prepared, Prepared), prepared
    return prepared


def _consent_variants() -> list[dict]:
    """Events that differ only where consent is read from, in every place it is read from."""
    variants = [event("c-0")]
    for n, context in enumerate(
        [
            {"consent": {"tcString": TC_STRING, "consentMode": {"ad_user_data": "denied"}}},
            {"consent": {"gpc": True}},
            {"globalPrivacyControl": True, "location": {"country": "FR"}},
            {"consent": {"usPrivacy": "1YYN"}},
            {"consent": {"categoryPreferences": {"marketing": False}}},
            {"consentMode": {"ad_storage": "granted"}},
            {"gcs": "G101"},
            {"tcString": "not a TC string"},
            {"location": {"country": "US", "region": "CA"}},
            {"location": {"country": "DE"}},
            {},
        ],
        start=1,
    ):
        variants.append({**event(f"c-{n}"), "context": context})
    return variants


def test_events_with_different_consent_in_one_request_keep_their_own(workspace):
    variants = _consent_variants()
    alone = [_prepare(workspace, raw, None).row["consent"] for raw in variants]
    memo = RequestMemo()
    # Each variant twice, interleaved: the second of each comes from the memo.
    shared = [_prepare(workspace, raw, memo).row["consent"] for raw in variants + variants]

    assert shared == alone + alone
    assert len({orjson.dumps(consent) for consent in alone}) == len(alone)  # all different
    assert len(memo.consent) == len(variants)


def test_the_consent_memo_reads_every_place_consent_is_read_from():
    read_from = {
        path[0]
        for name in dir(consent_module)
        if name.endswith("_PATHS")
        for path in getattr(consent_module, name)
    }
    assert read_from | {"location"} == set(CONSENT_KEYS)


def test_an_ip_is_remembered_only_once_it_was_valid(workspace):
    memo = RequestMemo()
    bad = _prepare(workspace, {**event("ip-1"), "context": {"ip": "not-an-ip"}}, memo)
    good = _prepare(workspace, {**event("ip-2"), "context": {"ip": "2001:db8::1"}}, memo)
    again = _prepare(workspace, {**event("ip-3"), "context": {"ip": "not-an-ip"}}, memo)

    assert bad.ip == again.ip == "198.51.100.4"  # the request's address instead
    assert [w.code for w in bad.warnings] == [w.code for w in again.warnings] == ["invalid_ip"]
    assert good.ip == "2001:db8::1"
    assert memo.ips == {"2001:db8::1": "2001:db8::1", "198.51.100.4": "198.51.100.4"}


# --- Indexes (destinations 0009) ---------------------------------------------------------------

DROPPED = {
    "destinations_event": {
        "destinations_event_workspace_id_86e5d4d4",
        "destinations_event_api_key_id_0692a21e",
    },
    "destinations_eventmessageid": {"destinations_eventmessageid_workspace_id_0488389b"},
    "destinations_eventoperational": {
        "destinations_eventoperational_workspace_id_4021ae3e",
        "event_ops_received",
    },
}


def _indexes(alias: str, table: str) -> set[str]:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", [table])
        return {name for (name,) in cursor.fetchall()}


def test_every_region_has_the_fewer_indexes():
    for alias in data_aliases():
        for table, dropped in DROPPED.items():
            assert not dropped & _indexes(alias, table), (alias, table)
        assert "event_ops_ws_received" in _indexes(alias, "destinations_eventoperational")
        assert len(_indexes(alias, "destinations_event")) == 8, alias


def _plan_indexes(cursor, sql: str, params) -> set[str]:
    cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
    [plan] = cursor.fetchone()[0]
    found, stack = set(), [plan["Plan"]]
    while stack:
        node = stack.pop()
        if "Index Name" in node:
            found.add(node["Index Name"])
        stack.extend(node.get("Plans", ()))
    return found


@pytest.mark.django_db(databases="__all__")
def test_a_workspaces_old_rows_are_found_through_a_workspace_index(workspace, other_workspace):
    """The retention purge's lookups (destinations/retention/purge.py) over two workspaces of
    10,000 events each, with fresh statistics: each reads through an index that starts with
    the workspace, never the whole table."""
    alias = Event.objects.for_workspace(workspace).db
    assert Event.objects.for_workspace(other_workspace).db == alias
    with connections[alias].cursor() as cursor:
        for ws in (workspace, other_workspace):
            seed.seed_events(cursor, ws.pk, count=10_000)
        where = "workspace_id = %s AND received_at < now() - interval '2 hours'"
        for table, columns in (
            ("destinations_eventoperational", "event_id, workspace_id, ip, user_agent"),
            ("destinations_eventmessageid", "workspace_id, message_id"),
        ):
            cursor.execute(
                f"INSERT INTO {table} ({columns}, received_at) SELECT "  # noqa: S608 - constants
                + ("id, workspace_id, '203.0.113.9', 'ua'" if "event_id" in columns else columns)
                + ", received_at FROM destinations_event"
            )
            cursor.execute(f"ANALYZE {table}")
        cursor.execute("ANALYZE destinations_event")
        for table, expected in (
            ("destinations_event", "event_ws_received"),
            ("destinations_eventoperational", "event_ops_ws_received"),
            ("destinations_eventmessageid", None),
        ):
            used = _plan_indexes(
                cursor,
                f"SELECT 1 FROM {table} WHERE {where} LIMIT 1000",  # noqa: S608 - constants
                [workspace.pk],
            )
            if expected:
                assert used == {expected}, (table, used)
            else:
                # the primary key (workspace_id, message_id) or the time index, never a scan
                assert used & {"destinations_eventmessageid_pkey", "event_msgid_received"}, used


# --- Bounds of what one request shares (review of issue 17's batch path) ------------------------


def test_a_batch_context_counts_in_each_events_size(client, token):
    """The batch's own context is stored with every event: a large one counts in each event's
    size, or one request could store it once per event past the limit (2,500 × 480 KB)."""
    page = {"path": "/checkout", "padding": "x" * (33 * 1024)}
    events = [event(f"big-ctx-{n}") for n in range(3)]

    refused = post(client, {"batch": events, "context": {"page": page}}, token).json()
    small = post(client, {"batch": events, "context": {"page": {"path": "/"}}}, token).json()

    assert refused["accepted"] == 0
    assert [(r["index"], r["errors"][0]["code"]) for r in refused["rejected"]] == [
        (n, "event_too_large") for n in range(3)
    ]
    assert "with the batch's context" in refused["rejected"][0]["errors"][0]["message"]
    assert small["accepted"] == 3
    assert data_get(Event, message_id="big-ctx-1").context["page"] == {"path": "/"}


def test_the_consent_memo_is_bounded_and_each_event_keeps_its_own(workspace):
    large = {"consent": {"categoryPreferences": {f"c{n}": True for n in range(1_000)}}}
    variants = [{**event(f"m-{n}"), "context": {**large, "gpc": n}} for n in range(3)]
    variants += [
        {**event(f"m-{n}"), "context": {"consent": {"usPrivacy": "1YYN"}, "n": n, "gpc": n % 2}}
        for n in range(300)
    ]
    memo = RequestMemo()
    shared = [_prepare(workspace, raw, memo).row["consent"] for raw in variants]

    assert shared == [_prepare(workspace, raw, None).row["consent"] for raw in variants]
    assert all(len(key) <= 8 * 1024 for key in memo.consent)  # the large ones not kept
    assert 0 < len(memo.consent) <= 256


def test_a_visitors_identifiers_are_hashed_once_per_request_and_forgotten_with_it(
    workspace, monkeypatch
):
    from privacy import pii

    expected = pii.hashed("em", "ada@example.com")
    parsed: list[str] = []
    parse, render = pii._RULES["em"]
    monkeypatch.setitem(
        pii._RULES, "em", (lambda text, *rest: parsed.append(text) or parse(text, *rest), render)
    )
    same_visitor = [
        {**event(f"v-{n}"), "userId": "user-7", "context": {"traits": {"email": "Ada@Example.com"}}}
        for n in range(5)
    ]
    memo = RequestMemo()
    rows = [_prepare(workspace, raw, memo).row for raw in same_visitor]

    assert parsed == ["Ada@Example.com"]
    assert all(row["identifiers"] == rows[0]["identifiers"] for row in rows)
    assert rows[0]["identifiers"]["meta"]["em"] == expected
    another_request = _prepare(workspace, same_visitor[0], RequestMemo()).row
    assert parsed == ["Ada@Example.com"] * 2  # nothing kept past the request's memo
    assert another_request["identifiers"] == rows[0]["identifiers"]
