"""Issue 13, ingestion: a workspace's events, de-duplication keys, operational rows and
tracking-plan violations are stored in its region's database and in no other (nor in the
control database); each region has a group-commit writer of its own; a workspace being moved
between regions is answered 503 ``workspace_moving`` and nothing is stored; the events
debugger reads the workspace's region.

Where rows are is checked with raw SQL on each database's own connection, not through the
models (whose router would send the query where the code under test sends it)."""

import threading
from datetime import timedelta

import orjson
import psycopg
import pytest
from django.db import OperationalError, connections, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from destinations.ingestion import runtime, store
from destinations.ingestion.selectors import events_recent
from destinations.models import Event, EventMessageId, EventOperational, TrackingPlanViolation
from destinations.retention import purge
from destinations.tracking_plans.selectors import tracking_plan_violations_list
from destinations.tracking_plans.services import tracking_plan_update
from tests.audit_entries import audit_count
from tests.factories import EventFactory, WorkspaceFactory, event_with_operational_data
from tracklayer.regions import alias_for, data_aliases
from workspaces.models import ApiKeyRole, Workspace

pytestmark = pytest.mark.django_db

DATA_TABLES = [
    model._meta.db_table
    for model in (Event, EventMessageId, EventOperational, TrackingPlanViolation)
]
NOTHING = dict.fromkeys(DATA_TABLES, 0)
ORDER_SCHEMA = {"type": "object", "properties": {"value": {"type": "number"}}}


@pytest.fixture
def eu_workspace(admin_user):
    return WorkspaceFactory(name="Europa", owner=admin_user, region="eu")


@pytest.fixture
def us_workspace(workspace):
    assert workspace.region == "us"
    return workspace


def event(message_id: str, **extra) -> dict:
    return {
        "type": "track",
        "event": "Order Completed",
        "anonymousId": "anon-1",
        "messageId": message_id,
        "properties": {"value": 10},
        "context": {"ip": "203.0.113.9", "userAgent": "TestBrowser/1.0"},
        **extra,
    }


def send(token: str, body: dict, path: str = "/v1/batch"):
    return Client().post(
        path,
        orjson.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def rows_of(alias: str, workspace) -> dict[str, int]:
    """Per data-plane table, how many rows of ``workspace`` the database ``alias`` holds."""
    counts = {}
    with connections[alias].cursor() as cursor:
        for table in DATA_TABLES:
            cursor.execute(
                f"SELECT count(*) FROM {table} WHERE workspace_id = %s",  # noqa: S608 - model tables
                [workspace.pk],
            )
            counts[table] = cursor.fetchone()[0]
    return counts


def control_tables() -> set[str]:
    with connections["default"].cursor() as cursor:
        return set(connections["default"].introspection.table_names(cursor))


# --- Placement -------------------------------------------------------------------------------


def test_each_workspaces_rows_are_in_its_regions_database_only(
    eu_workspace, us_workspace, admin_user, make_api_key
):
    for workspace in (eu_workspace, us_workspace):
        tracking_plan_update(
            workspace=workspace,
            actor=admin_user,
            mode="flag",
            unplanned="allow",
            schemas={"Order Completed": ORDER_SCHEMA},
        )
        _, token = make_api_key(workspace, role=ApiKeyRole.WRITE)
        bad = event(f"{workspace.region}-2", properties={"value": "ten"})
        answer = send(token, {"batch": [event(f"{workspace.region}-1"), bad]})
        assert answer.json()["accepted"] == 2

    stored = {"destinations_event": 2, "destinations_eventmessageid": 2}
    stored |= {"destinations_eventoperational": 2, "destinations_trackingplanviolation": 1}
    assert rows_of("region_eu", eu_workspace) == stored
    assert rows_of("region_us", eu_workspace) == NOTHING
    assert rows_of("region_us", us_workspace) == stored
    assert rows_of("region_eu", us_workspace) == NOTHING
    # The control database has no data-plane table at all, so it cannot hold a row of one.
    assert not control_tables() & set(DATA_TABLES)
    # And the reads find them where they are.
    assert sorted(e.message_id for e in events_recent(workspace=eu_workspace)) == ["eu-1", "eu-2"]
    assert [v.path for v in tracking_plan_violations_list(workspace=eu_workspace)] == [
        "properties.value"
    ]


def test_the_same_message_id_in_two_regions_is_stored_in_both(
    eu_workspace, us_workspace, make_api_key
):
    answers = [
        send(make_api_key(workspace)[1], event("shared"), "/v1/track").json()
        for workspace in (eu_workspace, us_workspace)
    ]

    assert [answer["accepted"] for answer in answers] == [1, 1]
    assert rows_of("region_eu", eu_workspace)["destinations_event"] == 1
    assert rows_of("region_us", us_workspace)["destinations_event"] == 1
    # The ids come from each region's block, so they differ even for the same messageId.
    eu_id = Event.objects.for_workspace(eu_workspace).get(message_id="shared").pk
    us_id = Event.objects.for_workspace(us_workspace).get(message_id="shared").pk
    assert eu_id >= 2 * 10**13 > us_id >= 10**13


def test_factory_events_go_to_their_workspaces_region(eu_workspace):
    EventFactory(workspace=eu_workspace, message_id="made")

    assert rows_of("region_eu", eu_workspace)["destinations_event"] == 1
    assert rows_of("region_us", eu_workspace)["destinations_event"] == 0


# --- Group commit per region -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_group_commit_has_a_writer_per_region_and_stores_each_in_its_own(
    eu_workspace, us_workspace, make_api_key, settings
):
    settings.EVENTS_GROUP_COMMIT = True
    tokens = {ws.region: make_api_key(ws)[1] for ws in (eu_workspace, us_workspace)}
    start = threading.Barrier(8)
    answers: list[int] = []

    def sender(n: int):
        region = "eu" if n % 2 else "us"
        start.wait()
        answers.append(send(tokens[region], {"batch": [event(f"m-{n}")]}).status_code)
        connections.close_all()

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert answers == [200] * 8
    names = {thread.name for thread in threading.enumerate()}
    assert {"tracklayer-event-writer-eu", "tracklayer-event-writer-us"} <= names
    assert rows_of("region_eu", eu_workspace)["destinations_event"] == 4
    assert rows_of("region_us", us_workspace)["destinations_event"] == 4
    assert rows_of("region_us", eu_workspace)["destinations_event"] == 0
    assert rows_of("region_eu", us_workspace)["destinations_event"] == 0


@pytest.mark.django_db(transaction=True)
def test_a_failing_region_fails_only_its_own_requests(
    eu_workspace, us_workspace, make_api_key, settings, monkeypatch
):
    settings.EVENTS_GROUP_COMMIT = True
    eu_token, us_token = make_api_key(eu_workspace)[1], make_api_key(us_workspace)[1]
    real_write = store.events_write
    entered, release = threading.Event(), threading.Event()

    def eu_is_down(requests, *, using):
        if using == alias_for("eu"):
            entered.set()
            assert release.wait(timeout=30)
            raise psycopg.OperationalError("the EU database went away")
        return real_write(requests, using=using)

    monkeypatch.setattr(store, "events_write", eu_is_down)
    eu_answer = []

    def eu_sender():
        eu_answer.append(send(eu_token, {"batch": [event("eu-1")]}))
        connections.close_all()

    eu_thread = threading.Thread(target=eu_sender)
    eu_thread.start()
    try:
        assert entered.wait(timeout=30)
        # The EU writer is stuck in its commit; the US one is not behind it.
        us_answer = send(us_token, {"batch": [event("us-1")]})
        assert us_answer.status_code == 200
        assert rows_of("region_us", us_workspace)["destinations_event"] == 1
    finally:
        release.set()
        eu_thread.join()

    assert eu_answer[0].status_code == 503
    assert eu_answer[0].json()["error"]["code"] == "events_not_stored"
    assert rows_of("region_eu", eu_workspace) == NOTHING
    # The EU writer lives on: the next EU request is stored once its database is back.
    monkeypatch.setattr(store, "events_write", real_write)
    assert send(eu_token, {"batch": [event("eu-2")]}).json()["accepted"] == 1
    assert rows_of("region_eu", eu_workspace)["destinations_event"] == 1


def test_events_written_in_the_callers_transaction_go_to_the_region_too(
    eu_workspace, make_api_key, settings
):
    settings.EVENTS_GROUP_COMMIT = False

    assert send(make_api_key(eu_workspace)[1], event("own"), "/v1/track").status_code == 200
    assert rows_of("region_eu", eu_workspace)["destinations_event"] == 1


# --- A workspace being moved -----------------------------------------------------------------

_FULL = {"userId": "u-1", "event": "Order Completed", "groupId": "g-1", "previousId": "p-1"}
INGEST_PATHS = [
    ("/v1/events", {"type": "track", **_FULL}),
    *((f"/v1/{kind}", _FULL) for kind in ("track", "identify", "page", "screen", "group", "alias")),
    *((f"/v1/{short}", _FULL) for short in ("t", "i", "p", "s", "g", "a")),
    *(
        (path, {"batch": [{"type": "track", **_FULL}]})
        for path in ("/v1/batch", "/v1/import", "/v1/b")
    ),
    ("/v1/events", {"batch": [{"type": "identify", **_FULL}]}),
]


def _moving(workspace, to: str) -> None:
    Workspace.objects.filter(pk=workspace.pk).update(moving_to=to)
    runtime.runtime_forget(workspace.pk)  # what waiting out runtime.TTL does for a move


@pytest.mark.parametrize(("path", "body"), INGEST_PATHS, ids=[p for p, _ in INGEST_PATHS])
def test_every_ingestion_path_answers_503_while_the_workspace_moves(
    eu_workspace, make_api_key, path, body
):
    _, token = make_api_key(eu_workspace)
    _moving(eu_workspace, "us")

    answer = send(token, body, path)

    assert answer.status_code == 503
    assert answer["Retry-After"] == "30"
    assert "Retry-After" in answer["Access-Control-Expose-Headers"]
    error = answer.json()["error"]
    assert error["code"] == "workspace_moving"
    assert "moved to another region" in error["message"]
    for alias in data_aliases():
        assert rows_of(alias, eu_workspace) == NOTHING

    # The same request is stored once the move is over.
    _moving(eu_workspace, "")
    assert send(token, body, path).json()["accepted"] == 1


def test_a_move_is_seen_by_a_process_within_the_runtime_ttl(eu_workspace):
    cached = runtime.workspace_runtime(workspace_id=eu_workspace.pk, clock=lambda: 1000.0)
    Workspace.objects.filter(pk=eu_workspace.pk).update(moving_to="us")

    within = runtime.workspace_runtime(workspace_id=eu_workspace.pk, clock=lambda: 1000.0 + 4.9)
    after = runtime.workspace_runtime(
        workspace_id=eu_workspace.pk, clock=lambda: 1000.0 + runtime.TTL + 0.1
    )

    assert (cached.moving, within.moving, after.moving) == (False, False, True)
    assert after.workspace.region == "eu" and after.workspace.moving_to == "us"


def test_the_purge_leaves_a_moving_workspace_alone(eu_workspace, system_actor):
    now = timezone.now()
    event_with_operational_data(eu_workspace, "old", now - timedelta(days=31))
    _moving(eu_workspace, "us")
    before = audit_count(eu_workspace)

    removed = purge.retention_purge(workspace=eu_workspace, actor=system_actor, now=now)

    assert removed.skipped and not any(removed.purged.values())
    assert rows_of("region_eu", eu_workspace)["destinations_eventoperational"] == 1
    assert audit_count(eu_workspace) == before


def test_the_purge_works_in_the_workspaces_region(eu_workspace, system_actor):
    now = timezone.now()
    event_with_operational_data(eu_workspace, "old", now - timedelta(days=31))
    event_with_operational_data(eu_workspace, "fresh", now - timedelta(days=1))

    removed = purge.retention_purge(workspace=eu_workspace, actor=system_actor, now=now)

    assert removed.purged["operational"] == 1 and removed.purged["message_ids"] == 1
    assert removed.purged["events"] == 0
    counts = rows_of("region_eu", eu_workspace)
    assert counts["destinations_eventoperational"] == 1
    assert counts["destinations_eventmessageid"] == 1
    assert counts["destinations_event"] == 2


# --- The events debugger --------------------------------------------------------------------


def test_the_debugger_lists_and_shows_an_eu_workspaces_events(
    signed_in, api_client, eu_workspace, us_workspace, make_api_key
):
    send(make_api_key(eu_workspace)[1], event("eu-look"), "/v1/track")
    send(make_api_key(us_workspace)[1], event("us-look"), "/v1/track")

    page = signed_in.get(reverse("destinations:events", args=[eu_workspace.slug]))
    table = signed_in.get(reverse("destinations:events-table", args=[eu_workspace.slug]))
    detail = signed_in.get(
        reverse("destinations:event-detail", args=[eu_workspace.slug, "eu-look"])
    )
    foreign = signed_in.get(
        reverse("destinations:event-detail", args=[eu_workspace.slug, "us-look"])
    )
    api_client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {make_api_key(eu_workspace, role=ApiKeyRole.VIEWER)[1]}"
    )
    by_api = api_client.get("/v1/events/eu-look")

    assert page.status_code == table.status_code == detail.status_code == 200
    for answer in (page, table, detail):
        assert "eu-look" in answer.content.decode()
        assert "us-look" not in answer.content.decode()
    assert foreign.status_code == 404
    assert (by_api.status_code, by_api.json()["messageId"]) == (200, "eu-look")


@pytest.mark.django_db(transaction=True)
def test_a_move_cannot_start_under_a_running_purge(eu_workspace, system_actor, monkeypatch):
    now = timezone.now()
    event_with_operational_data(eu_workspace, "old", now - timedelta(days=31))
    inside, release = threading.Event(), threading.Event()
    real_record = purge.audit_record

    def held(**kwargs):  # the purge has deleted and is about to write its entry
        inside.set()
        assert release.wait(timeout=30)
        return real_record(**kwargs)

    monkeypatch.setattr(purge, "audit_record", held)

    def purge_now():
        purge.retention_purge(workspace=eu_workspace, actor=system_actor, now=now)
        connections.close_all()

    purging = threading.Thread(target=purge_now)
    purging.start()
    try:
        assert inside.wait(timeout=30)
        with pytest.raises(OperationalError), transaction.atomic():
            with connections["default"].cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '300ms'")
            Workspace.objects.filter(pk=eu_workspace.pk).update(moving_to="us")
    finally:
        release.set()
        purging.join()

    assert Workspace.objects.filter(pk=eu_workspace.pk).update(moving_to="us") == 1
    assert rows_of("region_eu", eu_workspace)["destinations_eventoperational"] == 0


def test_the_drift_report_of_an_eu_workspace_reads_its_region(
    signed_in, eu_workspace, admin_user, make_api_key
):
    tracking_plan_update(
        workspace=eu_workspace,
        actor=admin_user,
        mode="flag",
        unplanned="allow",
        schemas={"Order Completed": ORDER_SCHEMA},
    )
    send(make_api_key(eu_workspace)[1], event("drift", properties={"value": "ten"}), "/v1/track")

    page = signed_in.get(reverse("destinations:tracking-plan", args=[eu_workspace.slug]))

    assert rows_of("region_eu", eu_workspace)["destinations_trackingplanviolation"] == 1
    assert page.status_code == 200
    assert "properties.value" in page.content.decode()
