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


# --- Review (r3): a commit whose answer was lost, a migration under a running writer ---------


def _counted(workspace) -> dict[str, int]:
    from destinations.models import MinuteFigure

    totals: dict[str, int] = {}
    for row in MinuteFigure.objects.for_workspace(workspace):
        totals[row.kind] = totals.get(row.kind, 0) + row.value
    return totals


def _losing_the_answer(monkeypatch, database, *, after_commit: bool) -> list[int]:
    """The next COMMIT of ``database``'s connection loses its connection: after the server
    committed (the answer is lost, the outcome unknown to the client) or before it did."""
    wrapper = type(connections[database])
    real = wrapper._commit
    killed: list[int] = []

    def commit(self):
        if killed or self.alias != database:
            return real(self)
        killed.append(self.connection.info.backend_pid)
        if after_commit:
            real(self)
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s, 5000)", [killed[0]])
        with self.wrap_database_errors:
            self.connection.execute("SELECT 1")  # the connection is gone: the answer with it
        raise AssertionError("unreachable")

    monkeypatch.setattr(wrapper, "_commit", commit)
    return killed


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("proven", [True, False], ids=["just-committed", "idle"])
def test_a_commit_whose_answer_was_lost_is_answered_as_it_was_committed(
    workspace, monkeypatch, proven
):
    """The server committed, the connection broke before the answer: the events are stored
    and answered accepted (not 'duplicate' by a second write of the same requests), and the
    figures are counted once."""
    database = workspace_db(workspace)
    writer = GroupCommitWriter(database)
    if proven:
        writer._commit([(_request(workspace, _prepared(workspace, "before", {})), Future())])
    killed = _losing_the_answer(monkeypatch, database, after_commit=True)
    requests = [
        replace(_request(workspace, _prepared(workspace, f"lost-{n}", {})), received=1)
        for n in range(2)
    ]
    baseline = _counted(workspace)
    pending = [(request, Future()) for request in requests]
    try:
        writer._commit(pending)
    finally:
        connections[database].close()

    assert killed
    for _, done in pending:
        result = done.result()
        assert (len(result.stored), len(result.duplicates)) == (1, 0)
    counted = _counted(workspace)
    assert counted.get("events.received", 0) - baseline.get("events.received", 0) == 2
    assert counted.get("events.accepted", 0) - baseline.get("events.accepted", 0) == 2
    assert counted.get("events.duplicate", 0) == baseline.get("events.duplicate", 0)
    assert sorted(e.message_id for e in data_rows(Event) if e.message_id.startswith("lost")) == [
        "lost-0",
        "lost-1",
    ]


@pytest.mark.django_db(transaction=True)
def test_a_commit_lost_before_the_server_committed_is_written_once_more(workspace, monkeypatch):
    database = workspace_db(workspace)
    writer = GroupCommitWriter(database)
    writer._commit([(_request(workspace, _prepared(workspace, "before", {})), Future())])
    killed = _losing_the_answer(monkeypatch, database, after_commit=False)
    request = replace(_request(workspace, _prepared(workspace, "gone", {})), received=1)
    pending = [(request, Future())]
    baseline = _counted(workspace)
    try:
        writer._commit(pending)
    finally:
        connections[database].close()

    assert killed
    assert (len(pending[0][1].result().stored), len(pending[0][1].result().duplicates)) == (1, 0)
    counted = _counted(workspace)
    assert counted.get("events.received", 0) - baseline.get("events.received", 0) == 1
    assert counted.get("events.accepted", 0) - baseline.get("events.accepted", 0) == 1


@pytest.mark.django_db(transaction=True)
def test_a_migration_of_the_message_ids_column_fails_no_commit_of_a_running_writer(workspace):
    """The events statement is prepared on the writer's connection; a migration that changes
    the type of a column it returns (a longer messageId) must not fail its next commit with
    'cached plan must not change result type'."""
    database = workspace_db(workspace)
    writer = GroupCommitWriter(database)
    writer._commit([(_request(workspace, _prepared(workspace, "before", {})), Future())])
    writer._commit([(_request(workspace, _prepared(workspace, "prepared", {})), Future())])
    migrator = connections.create_connection(database)
    alter = "ALTER TABLE destinations_eventmessageid ALTER COLUMN message_id TYPE varchar(%s)"
    try:
        with migrator.cursor() as cursor:
            cursor.execute(alter % 101)
        pending = [(_request(workspace, _prepared(workspace, "after", {})), Future())]
        writer._commit(pending)
        assert len(pending[0][1].result().stored) == 1
    finally:
        connections[database].close()
        with migrator.cursor() as cursor:
            cursor.execute(alter % 100)
        migrator.close()


@pytest.mark.django_db(transaction=True)
def test_a_lost_commit_whose_outcome_cannot_be_known_fails_each_request_and_writes_none_again(
    workspace, monkeypatch
):
    """Asked whether the commit happened, the database cannot tell (unreachable, or the
    transaction still running): every request is told to send its events again (503) — not
    written a second time and answered as duplicates of itself."""
    database = workspace_db(workspace)
    writer = GroupCommitWriter(database)
    _losing_the_answer(monkeypatch, database, after_commit=True)

    def unreachable(xid, database):
        raise store._Unsettled()

    monkeypatch.setattr(store, "_committed", unreachable)
    requests = [
        replace(_request(workspace, _prepared(workspace, f"doubt-{n}", {})), received=1)
        for n in range(2)
    ]
    pending = [(request, Future()) for request in requests]
    try:
        writer._commit(pending)
    finally:
        connections[database].close()

    assert all(isinstance(done.exception(), EventWriteError) for _, done in pending)
    counted = _counted(workspace)
    assert counted.get("events.received") == 2  # the first attempt's, once
    assert "events.duplicate" not in counted
    assert data_count(Event, workspace=workspace) == 2


@pytest.mark.django_db(transaction=True)
def test_the_write_after_a_lost_connection_is_tried_once_then_request_by_request(
    workspace, monkeypatch
):
    database = workspace_db(workspace)
    writer = GroupCommitWriter(database)
    writer._commit([(_request(workspace, _prepared(workspace, "before", {})), Future())])
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(%s, 5000)",
            [connections[database].connection.info.backend_pid],
        )
    real = store._write_once
    calls = []

    def second_fails(requests, database, **kwargs):
        calls.append(len(requests))
        if len(calls) == 2:
            raise RuntimeError("the new connection failed too")
        return real(requests, database, **kwargs)

    monkeypatch.setattr(store, "_write_once", second_fails)
    pending = [(_request(workspace, _prepared(workspace, f"b{n}", {})), Future()) for n in range(2)]
    try:
        writer._commit(pending)
    finally:
        connections[database].close()

    assert calls == [2, 2, 1, 1]  # the lost one, once more, then each on its own
    assert all(len(done.result().stored) == 1 for _, done in pending)


@pytest.mark.django_db(transaction=True)
def test_a_connection_idle_for_longer_than_proven_for_is_checked_again(workspace, monkeypatch):
    database = workspace_db(workspace)
    connection = connections[database]
    checks = []
    real = type(connection).is_usable

    def counted(self):
        checks.append(self.alias)
        return real(self)

    monkeypatch.setattr(type(connection), "is_usable", counted)
    writer = GroupCommitWriter(database)
    try:
        for n in range(3):
            pending = [(_request(workspace, _prepared(workspace, f"i-{n}", {})), Future())]
            writer._commit(pending)
            assert len(pending[0][1].result().stored) == 1
            writer._committed_at -= store.PROVEN_FOR  # as if idle since
    finally:
        connection.close()

    assert checks.count(database) == 2  # the first commit opened it; the next two checked it


@pytest.mark.django_db(transaction=True)
def test_a_reopened_writer_connection_prepares_its_statements_again(workspace):
    """CONN_MAX_AGE (close_old_connections) or a broken connection: the next one starts with
    Django's settings (preparing off) and the writer turns it on and prepares anew."""
    database = workspace_db(workspace)
    try:
        store._write_once([_request(workspace, _prepared(workspace, "r-0", {}))], database)
        first = connections[database].connection.info.backend_pid
        connections[database].close()
        store._write_once([_request(workspace, _prepared(workspace, "r-1", {}))], database)
        assert connections[database].connection.info.backend_pid != first
        statements = _prepared_statements(database)
    finally:
        connections[database].close()

    assert any("INSERT INTO destinations_eventmessageid" in s for s in statements)
    assert data_count(Event, workspace=workspace) == 2
