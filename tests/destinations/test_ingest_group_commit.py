"""Issue 11, finding 1, defence in depth: one request whose rows PostgreSQL refuses fails only
itself, never the other requests (of other workspaces) that shared its group commit; and the
error it sees carries no other request's data.

Validation keeps such rows out (test_ingest_hostile_input.py); here they are handed to the
writer directly, as a validation gap would."""

import threading
from concurrent.futures import Future
from dataclasses import replace

import orjson
import pytest
from django.db import connections
from django.test import Client
from django.utils import timezone

from destinations.ingestion import runtime, services, store
from destinations.ingestion.envelope import Prepared, prepare_event
from destinations.ingestion.store import (
    EventWriteError,
    GroupCommitWriter,
    WriteRequest,
    events_store,
)
from destinations.models import Event
from tests.destinations.helpers import data_count, data_rows
from workspaces.models import ApiKeyRole
from workspaces.regions import workspace_db


def _prepared(workspace, message_id: str, properties: dict) -> Prepared:
    prepared = prepare_event(
        {"type": "track", "event": "x", "userId": "u", "messageId": message_id},
        index=0,
        kind=None,
        received_at=timezone.now(),
        config=runtime.workspace_runtime(workspace=workspace).config,
        size=100,
    )
    assert isinstance(prepared, Prepared)
    return replace(prepared, row={**prepared.row, "properties": properties})


def _eventually(condition, tries: int = 3000) -> bool:
    for _ in range(tries):
        if condition():
            return True
        threading.Event().wait(0.01)
    return False


def _request(workspace, *events: Prepared) -> WriteRequest:
    return WriteRequest(
        workspace_id=workspace.pk,
        api_key_id=None,
        source="native",
        received_at=timezone.now(),
        events=list(events),
        statuses=["ok"] * len(events),
        workspace=workspace,
    )


@pytest.mark.django_db(transaction=True)
def test_a_failed_group_commit_is_retried_request_by_request(workspace, other_workspace):
    bad = _request(workspace, _prepared(workspace, "bad", {"a": "\x00"}))
    good = [
        _request(other_workspace, _prepared(other_workspace, f"good-{i}", {"secret": f"s-{i}"}))
        for i in range(3)
    ]
    pending = [(request, Future()) for request in [good[0], bad, good[1], good[2]]]

    GroupCommitWriter(workspace_db(workspace))._commit(pending)

    outcomes = [done.exception() or done.result() for _, done in pending]
    failure = outcomes[1]
    assert isinstance(failure, EventWriteError)
    # Its own error, told fresh: no database message, no writer frames, no other rows.
    assert failure.__cause__ is None and failure.__context__ is None
    assert failure.__traceback__ is None
    assert "good-" not in str(failure) and "s-0" not in str(failure)
    assert [len(outcome.stored) for outcome in outcomes if outcome is not failure] == [1, 1, 1]
    assert sorted(event.message_id for event in data_rows(Event)) == [
        "good-0",
        "good-1",
        "good-2",
    ]


@pytest.mark.django_db(transaction=True)
def test_one_workspaces_refused_rows_never_fail_another_workspaces_requests(
    workspace, other_workspace, make_api_key, settings, monkeypatch
):
    settings.EVENTS_GROUP_COMMIT = True
    _, token = make_api_key(other_workspace, role=ApiKeyRole.WRITE)
    runtime.workspace_runtime(workspace=workspace)  # the attacker's rows need it (a query)
    # The writer's first commit waits at this gate until every other request is queued
    # behind it, so the second commit carries all of them, the attacker's with the others'.
    gate = threading.Event()
    real_write = store.events_write
    first = [True]

    def gated_write(requests, **kwargs):
        if first[0]:
            first[0] = False
            assert gate.wait(timeout=30)
        return real_write(requests, **kwargs)

    monkeypatch.setattr(store, "events_write", gated_write)
    writer = store.events_writer(workspace_db(other_workspace))  # both workspaces' region
    senders, attackers = 4, 2
    answers: list[int] = []
    attacker_errors: list[Exception] = []

    def opener():
        events_store(
            _request(other_workspace, _prepared(other_workspace, "first", {})), group_commit=True
        )
        connections.close_all()

    def attacker(n: int):
        try:
            events_store(
                _request(workspace, _prepared(workspace, f"bad-{n}", {"a": "\x00"})),
                group_commit=True,
            )
        except Exception as error:  # the old code raised the database's error itself
            attacker_errors.append(error)
        connections.close_all()

    def sender(n: int):
        body = {"type": "track", "event": "x", "userId": "u", "messageId": f"ok-{n}"}
        answer = Client(raise_request_exception=False).post(
            "/v1/track",
            orjson.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
        answers.append(answer.status_code)
        connections.close_all()

    threads = [threading.Thread(target=opener)]
    threads[0].start()
    # The opener's commit has started and waits at the gate …
    assert _eventually(lambda: not first[0])
    threads += [threading.Thread(target=attacker, args=(n,)) for n in range(attackers)]
    threads += [threading.Thread(target=sender, args=(n,)) for n in range(senders)]
    for thread in threads[1:]:
        thread.start()
    # … while everyone else queues up behind it.
    queued = _eventually(lambda: writer._queue.qsize() == attackers + senders)
    gate.set()
    assert queued
    for thread in threads:
        thread.join()

    assert answers == [200] * senders
    assert len(attacker_errors) == attackers
    assert all(isinstance(error, EventWriteError) for error in attacker_errors)
    assert data_count(Event, workspace=other_workspace) == senders + 1
    assert not data_rows(Event, workspace=workspace)


@pytest.mark.django_db
def test_rows_the_database_refuses_answer_a_json_503_even_in_debug(
    client, workspace, make_api_key, settings, monkeypatch
):
    settings.DEBUG = True
    _, token = make_api_key(workspace, role=ApiKeyRole.WRITE)

    real = services.prepare_event

    def gap(raw, **kwargs):  # a validation gap: the row reaches the writer
        prepared = real(raw, **kwargs)
        return replace(prepared, row={**prepared.row, "properties": {"a": "\x00"}})

    monkeypatch.setattr(services, "prepare_event", gap)

    response = client.post(
        "/v1/track",
        orjson.dumps({"event": "x", "userId": "u"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )

    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "error": {
            "code": "events_not_stored",
            "message": "The events could not be stored and none was accepted; send them "
            "again later.",
        }
    }


# --- The writer's connection: prepared statements, no health check between close commits ----


def _prepared_statements(database: str) -> list[str]:
    with connections[database].cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [statement for (statement,) in cursor.fetchall()]


@pytest.mark.django_db(transaction=True)
def test_the_writers_statements_are_prepared_on_its_connection(workspace):
    database = workspace_db(workspace)
    try:
        for n in range(2):
            store._write_once([_request(workspace, _prepared(workspace, f"p-{n}", {}))], database)
        statements = _prepared_statements(database)
    finally:
        connections[database].close()  # its preparing is not handed to the next test

    assert any("INSERT INTO destinations_eventmessageid" in s for s in statements)
    assert any("INSERT INTO destinations_minutefigure" in s for s in statements)
    assert data_count(Event, workspace=workspace) == 2


@pytest.mark.django_db(transaction=True)
def test_a_requests_own_transaction_prepares_nothing(workspace):
    """Django's connections keep preparing off (poolers); only the writer's turns it on."""
    database = workspace_db(workspace)
    for n in range(6):
        events_store(_request(workspace, _prepared(workspace, f"o-{n}", {})), group_commit=False)

    assert _prepared_statements(database) == []


@pytest.mark.django_db(transaction=True)
def test_commits_in_quick_succession_check_the_connection_once(workspace, monkeypatch):
    database = workspace_db(workspace)
    connection = connections[database]
    checks = []
    real = type(connection).is_usable

    def counted(self):
        checks.append(self.alias)
        return real(self)

    monkeypatch.setattr(type(connection), "is_usable", counted)
    connection.ensure_connection()  # as a writer that has worked before
    writer = GroupCommitWriter(database)
    try:
        for n in range(4):
            pending = [(_request(workspace, _prepared(workspace, f"q-{n}", {})), Future())]
            writer._commit(pending)
            assert len(pending[0][1].result().stored) == 1
    finally:
        connection.close()

    assert checks.count(database) == 1  # before the first commit only


@pytest.mark.django_db(transaction=True)
def test_a_connection_broken_since_its_last_commit_loses_no_request(workspace, caplog):
    """Not checked because it had just committed, it is found broken by the commit itself:
    the requests are written on a new connection, none fails."""
    database = workspace_db(workspace)
    writer = GroupCommitWriter(database)
    first = [(_request(workspace, _prepared(workspace, "before", {})), Future())]
    writer._commit(first)
    pid = connections[database].connection.info.backend_pid
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])
    pending = [(_request(workspace, _prepared(workspace, "after", {})), Future())]

    writer._commit(pending)

    assert len(pending[0][1].result().stored) == 1
    assert connections[database].connection.info.backend_pid != pid
    assert "event writer's connection" in caplog.text and "reconnected" in caplog.text
    assert sorted(event.message_id for event in data_rows(Event)) == ["after", "before"]
    connections[database].close()
