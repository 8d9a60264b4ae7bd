"""The event store's indexes that data-subject requests rely on (migration destinations 0007):
the matching predicate (privacy.requests.matching.EVENTS_WHERE) reads a subject's events
through them — the GIN index on ``identifiers``, the SHA-256 of ``anonymous_id`` and an alias's
``previous_id_hash`` — and never walks the workspace's events. EXPLAIN says so; without an
index PostgreSQL would have to scan, and these tests fail."""

import pytest
from django.db import connections

from destinations.models import Event
from privacy import pii
from privacy.requests import matching
from tests.bench import seed
from tests.factories import EventFactory

pytestmark = pytest.mark.django_db(databases="__all__")

INDEXES = ("event_ids_gin", "event_anonymous_sha256", "event_previous_id")
REQUEST = "dsr_index_test"
BACKGROUND = 20_000


def _subject_rows(cursor, workspace, rows):
    cursor.executemany(
        "INSERT INTO privacy_requestsubject (workspace_id, request_id, kind, hash)"
        " VALUES (%s, %s, %s, %s)",
        [(workspace.pk, REQUEST, kind, digest) for kind, digest in rows],
    )


def _nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)


def _plan(cursor, workspace, sql: str) -> list[dict]:
    """Every node of the plan, over a workspace of ``BACKGROUND`` events with fresh statistics
    (on a nearly empty table any plan is cheap and the planner's choice says nothing)."""
    seed.seed_events(cursor, workspace.pk, count=BACKGROUND)
    cursor.execute(f"ANALYZE {Event._meta.db_table}")
    cursor.execute(
        "EXPLAIN (FORMAT JSON) " + sql, {"workspace": workspace.pk, "request": REQUEST, "limit": 10}
    )
    [plan] = cursor.fetchone()[0]
    return list(_nodes(plan["Plan"]))


def _subject(workspace):
    subject = matching.subject_hashes(
        {"email": "ada@example.org", "user_id": "u-1815", "anonymous_id": "a\\b ü"}
    )
    return [(kind, digest) for kind, digests in subject.store.items() for digest in digests]


def test_the_indexes_exist_in_every_region():
    for region in ("region_eu", "region_us"):
        with connections[region].cursor() as cursor:
            cursor.execute(
                "SELECT indexname FROM pg_indexes WHERE tablename = %s", [Event._meta.db_table]
            )
            names = {name for (name,) in cursor.fetchall()}
        assert set(INDEXES) <= names, region


@pytest.mark.parametrize(
    "statement",
    [
        # as the delete takes its next batch and as an access request counts
        "SELECT e.id FROM destinations_event e WHERE {where} ORDER BY e.id LIMIT %(limit)s"
        " FOR UPDATE",
        "WITH m AS (SELECT e.id FROM destinations_event e WHERE {where}) SELECT count(*) FROM m",
    ],
    ids=["delete batch", "count"],
)
def test_the_matching_predicate_reads_through_the_indexes(workspace, statement):
    database = connections[Event.objects.for_workspace(workspace).db]
    with database.cursor() as cursor:
        _subject_rows(cursor, workspace, _subject(workspace))
        nodes = _plan(cursor, workspace, statement.format(where=matching.EVENTS_WHERE))

    assert _served_by_the_indexes(nodes)


def _served_by_the_indexes(nodes: list[dict]) -> bool:
    used = {node.get("Index Name") for node in nodes}
    event_scans = {
        node["Node Type"] for node in nodes if node.get("Relation Name") == Event._meta.db_table
    }
    # the matches by one bitmap of the three indexes, then just those rows: no scan of events
    return (
        set(INDEXES) <= used
        and any(node["Node Type"] == "BitmapOr" for node in nodes)
        and "Bitmap Heap Scan" in event_scans
        and "Seq Scan" not in event_scans
    )


# The predicate before the index (each event's identifiers unnested and compared): correct,
# but no index can serve it. The check above must tell.
UNINDEXABLE = (
    "e.workspace_id = %(workspace)s AND EXISTS ("
    " SELECT 1 FROM jsonb_each(e.identifiers) AS i(spec, ids)"
    " WHERE jsonb_typeof(i.ids) = 'object'"
    " AND i.ids ->> 'em' IN (SELECT s.hash FROM privacy_requestsubject s"
    "  WHERE s.workspace_id = %(workspace)s AND s.request_id = %(request)s))"
)


def test_a_predicate_no_index_serves_is_told_apart(workspace):
    database = connections[Event.objects.for_workspace(workspace).db]
    with database.cursor() as cursor:
        _subject_rows(cursor, workspace, _subject(workspace))
        nodes = _plan(
            cursor,
            workspace,
            f"SELECT e.id FROM destinations_event e WHERE {UNINDEXABLE}"  # noqa: S608
            " ORDER BY e.id LIMIT %(limit)s",
        )

    assert not _served_by_the_indexes(nodes)


def test_the_anonymous_id_hash_in_the_index_is_the_requests(workspace):
    """The index's function hashes the UTF-8 bytes as Python does (backslashes, non-ASCII)."""
    anonymous_id = "a\\b ü"
    EventFactory(workspace=workspace, message_id="m-1", anonymous_id=anonymous_id)
    database = connections[Event.objects.for_workspace(workspace).db]
    with database.cursor() as cursor:
        cursor.execute(
            "SELECT encode(tracklayer_sha256_utf8(anonymous_id), 'hex') FROM destinations_event"
            " WHERE workspace_id = %s",
            [workspace.pk],
        )
        [(digest,)] = cursor.fetchall()

    assert (
        digest == matching.subject_hashes({"anonymous_id": anonymous_id}).store["anonymous_id"][0]
    )
    assert pii.SPECS  # every spec is tried inside identifiers (matching.IDENTIFIER_DOCUMENTS)
