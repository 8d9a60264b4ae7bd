"""The group-commit writer's transaction id (ADR 0028: taken before each COMMIT, to settle a
lost one) comes back with the events statement: no round trip of its own when there are events
to insert, and it is the transaction's own id whether the events were stored or duplicates."""

from concurrent.futures import Future

import pytest
from django.db import connections

from destinations.ingestion import store
from destinations.ingestion.store import GroupCommitWriter
from tests.destinations.test_ingest_group_commit import _prepared, _request
from workspaces.regions import workspace_db


def _commit(monkeypatch, workspace, request) -> tuple[list[str], list[str], list[str]]:
    """Commit ``request`` alone: the ids asked on their own, returned by the events
    statement, and the transaction's (asked after the events were written)."""
    database = workspace_db(workspace)
    asked: list[str] = []
    returned: list[str] = []
    actual: list[str] = []
    real_ask, real_write = store._transaction_id, store.events_write

    def ask(raw):
        asked.append(real_ask(raw))
        return asked[-1]

    def write(requests, **kwargs):
        results = real_write(requests, **kwargs)
        returned.extend({result.transaction_id for result in results} - {None})
        with connections[database].cursor() as cursor:
            cursor.execute("SELECT pg_current_xact_id()::text")
            actual.append(cursor.fetchone()[0])
        return results

    monkeypatch.setattr(store, "_transaction_id", ask)
    monkeypatch.setattr(store, "events_write", write)
    done: Future = Future()
    try:
        GroupCommitWriter(database)._commit([(request, done)])
    finally:
        monkeypatch.undo()
        connections[database].close()
    done.result()
    return asked, returned, actual


@pytest.mark.django_db(transaction=True)
def test_the_events_statement_returns_the_transaction_id(workspace, monkeypatch):
    first = _commit(monkeypatch, workspace, _request(workspace, _prepared(workspace, "x", {})))
    again = _commit(monkeypatch, workspace, _request(workspace, _prepared(workspace, "x", {})))

    for asked, returned, actual in (first, again):  # stored, then a duplicate
        assert asked == []  # no round trip of its own
        assert returned == actual and len(actual) == 1
    assert first[2] != again[2]


@pytest.mark.django_db(transaction=True)
def test_a_commit_without_events_asks_for_the_transaction_id(workspace, monkeypatch):
    asked, returned, actual = _commit(monkeypatch, workspace, _request(workspace))

    assert returned == []
    assert asked == actual and len(actual) == 1
