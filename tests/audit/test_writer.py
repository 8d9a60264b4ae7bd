"""``audit_record``: the hash-linked, append-only log of each workspace."""

import hashlib
import json
import threading

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.utils import timezone

from audit.canonical import canonical_json, rfc3339
from audit.chain import ChainBreak, chain_breaks
from audit.exceptions import AuditError, AuditPayloadError
from audit.models import AuditEntry, AuditLogHead
from audit.services import audit_log_open, audit_record
from tests.audit.helpers import ACTOR, record_thing
from tests.audit_entries import audit_count
from tests.factories import UserFactory, WorkspaceFactory
from workspaces.models import Workspace


def rows(workspace) -> list[tuple]:
    return list(
        AuditEntry.objects.filter(workspace=workspace)
        .order_by("idx")
        .values_list("idx", "prev_hash", "hash", "material")
    )


def empty_log_workspace(name: str = "Empty") -> Workspace:
    """A workspace whose log is open and empty (the services would already have written)."""
    workspace = Workspace.objects.create(name=name, slug=name.lower())
    with transaction.atomic():
        audit_log_open(workspace=workspace)
    return workspace


@pytest.mark.django_db
def test_entries_are_numbered_and_linked_by_hash():
    workspace = empty_log_workspace()

    entries = [record_thing(workspace, n) for n in range(3)]

    assert [e.idx for e in entries] == [0, 1, 2]
    genesis, second, third = (AuditEntry.objects.get(pk=e.pk) for e in entries)
    assert genesis.prev_hash is None
    assert bytes(genesis.hash) == hashlib.sha256(bytes(genesis.material)).digest()
    assert bytes(second.prev_hash) == bytes(genesis.hash)
    assert (
        bytes(second.hash) == hashlib.sha256(bytes(genesis.hash) + bytes(second.material)).digest()
    )
    assert bytes(third.prev_hash) == bytes(second.hash)
    head = AuditLogHead.objects.get(workspace=workspace)
    assert head.size == 3
    assert bytes(head.head_hash) == bytes(third.hash)
    assert chain_breaks(rows(workspace)) == []


@pytest.mark.django_db
def test_material_is_the_canonical_json_of_the_entry():
    workspace = empty_log_workspace()
    user = UserFactory()
    before = timezone.now()

    entry = record_thing(
        workspace,
        actor=user,
        event_type="member.role_changed",
        resource_type="user",
        resource_id=user.public_id,
        payload={"role": {"before": "viewer", "after": "admin"}, "at": before},
    )

    material = bytes(entry.material)
    decoded = json.loads(material)
    assert decoded == {
        "v": 1,
        "origin": f"{settings.TRACKLAYER_AUDIT_ORIGIN}/{workspace.public_id}",
        "idx": 0,
        "event_type": "member.role_changed",
        "resource_type": "user",
        "resource_id": user.public_id,
        "actor": f"user:{user.public_id}",
        "timestamp": rfc3339(entry.timestamp),
        "payload": {"role": {"before": "viewer", "after": "admin"}, "at": rfc3339(before)},
    }
    assert material == canonical_json(decoded)
    # The query columns say the same as the hashed bytes.
    assert (entry.event_type, entry.resource_id, entry.actor) == (
        decoded["event_type"],
        decoded["resource_id"],
        decoded["actor"],
    )


@pytest.mark.django_db(transaction=True)
def test_refuses_to_write_outside_a_transaction():
    workspace = empty_log_workspace()

    with pytest.raises(AuditError, match="inside the transaction"):
        audit_record(
            workspace=workspace,
            actor=ACTOR,
            event_type="thing.happened",
            resource_type="thing",
            resource_id="thing_1",
        )

    assert not AuditEntry.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "payload",
    [{"amount": 1.5}, {"big": 2**53}, {"small": -(2**53)}, {"nested": [{"x": float("nan")}]}],
    ids=["float", "2**53", "-2**53", "nested-nan"],
)
def test_refuses_payloads_without_a_canonical_form_and_writes_nothing(payload):
    workspace = empty_log_workspace()
    record_thing(workspace, 0)

    with pytest.raises(AuditPayloadError):
        record_thing(workspace, 1, payload=payload)

    assert AuditLogHead.objects.get(workspace=workspace).size == 1
    assert audit_count(workspace) == 1
    assert record_thing(workspace, 2).idx == 1


@pytest.mark.django_db
def test_refuses_an_unknown_actor():
    workspace = empty_log_workspace()

    with pytest.raises(TypeError):
        record_thing(workspace, actor="someone")

    assert not AuditEntry.objects.exists()


@pytest.mark.django_db
def test_writing_to_a_workspace_without_a_head_opens_its_log():
    workspace = Workspace.objects.create(name="Headless", slug="headless")

    assert record_thing(workspace).idx == 0
    assert AuditLogHead.objects.get(workspace=workspace).size == 1


@pytest.mark.django_db
def test_audit_log_open_is_idempotent_and_keeps_the_origin():
    workspace = WorkspaceFactory()
    head = AuditLogHead.objects.get(workspace=workspace)

    with transaction.atomic():
        again = audit_log_open(workspace=workspace)

    assert (again.origin, again.size) == (head.origin, head.size)
    assert AuditLogHead.objects.filter(workspace=workspace).count() == 1


# --- Tampering -----------------------------------------------------------------------------------


def _check_deferred_constraints_now() -> None:
    """The test's inserts left deferred foreign-key checks pending, and PostgreSQL will not
    alter or truncate a table with pending trigger events; run those checks now."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def _as_owner_without_triggers(sql: str, params: list) -> None:
    """What only the table's owner can do (and production's role cannot): switch the triggers
    off, change a row, switch them on. Rolled back with the test's transaction."""
    _check_deferred_constraints_now()
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditentry DISABLE TRIGGER USER")
        cursor.execute(sql, params)
        cursor.execute("ALTER TABLE audit_auditentry ENABLE TRIGGER USER")


@pytest.mark.django_db
def test_chain_breaks_finds_an_edited_payload():
    workspace = empty_log_workspace()
    entries = [record_thing(workspace, n) for n in range(4)]
    forged = bytes(entries[1].material).replace(b'"n":1', b'"n":7')

    _as_owner_without_triggers(
        "UPDATE audit_auditentry SET material = %s WHERE id = %s", [forged, entries[1].pk]
    )

    assert chain_breaks(rows(workspace)) == [ChainBreak(1, "hash_mismatch")]


@pytest.mark.django_db
def test_chain_breaks_finds_an_edit_that_recomputed_its_own_hash():
    workspace = empty_log_workspace()
    entries = [record_thing(workspace, n) for n in range(4)]
    forged = bytes(entries[1].material).replace(b'"n":1', b'"n":7')
    forged_hash = hashlib.sha256(bytes(entries[0].hash) + forged).digest()

    _as_owner_without_triggers(
        "UPDATE audit_auditentry SET material = %s, hash = %s WHERE id = %s",
        [forged, forged_hash, entries[1].pk],
    )

    assert chain_breaks(rows(workspace)) == [ChainBreak(2, "prev_hash_mismatch")]


@pytest.mark.django_db
def test_chain_breaks_finds_a_deleted_entry():
    workspace = empty_log_workspace()
    entries = [record_thing(workspace, n) for n in range(4)]

    _as_owner_without_triggers("DELETE FROM audit_auditentry WHERE id = %s", [entries[2].pk])

    assert chain_breaks(rows(workspace)) == [
        ChainBreak(3, "gap"),
        ChainBreak(3, "prev_hash_mismatch"),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_auditentry SET event_type = 'nothing.happened'",
        "DELETE FROM audit_auditentry",
        "TRUNCATE audit_auditentry",
    ],
    ids=["update", "delete", "truncate"],
)
def test_the_database_refuses_to_change_entries(statement):
    workspace = empty_log_workspace()
    record_thing(workspace)
    _check_deferred_constraints_now()

    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)

    assert AuditEntry.objects.get(workspace=workspace).event_type == "thing.happened"


@pytest.mark.django_db
def test_the_orm_cannot_change_entries_either():
    workspace = empty_log_workspace()
    entry = record_thing(workspace)

    entry.event_type = "nothing.happened"
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        entry.save()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).delete()

    assert AuditEntry.objects.get(pk=entry.pk).event_type == "thing.happened"


# --- Several writers, several logs ---------------------------------------------------------------

WRITERS = 8
ENTRIES_PER_WRITER = 25


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_leave_a_contiguous_valid_chain():
    workspace = empty_log_workspace()
    start = threading.Barrier(WRITERS)
    failures: list[BaseException] = []

    def writer(number: int) -> None:
        try:
            start.wait(timeout=30)
            for n in range(ENTRIES_PER_WRITER):
                record_thing(workspace, number * 100 + n)
        except BaseException as error:
            failures.append(error)
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert failures == []
    assert not any(thread.is_alive() for thread in threads)
    total = WRITERS * ENTRIES_PER_WRITER
    chain = rows(workspace)
    assert [idx for idx, *_ in chain] == list(range(total))
    assert chain_breaks(chain) == []
    assert AuditLogHead.objects.get(workspace=workspace).size == total
    written = {json.loads(bytes(material))["payload"]["n"] for *_, material in chain}
    assert written == {w * 100 + n for w in range(WRITERS) for n in range(ENTRIES_PER_WRITER)}


@pytest.mark.django_db
def test_each_workspace_has_its_own_log():
    acme, globex = empty_log_workspace("Acme"), empty_log_workspace("Globex")

    record_thing(acme, 0)
    record_thing(acme, 1)
    first_of_globex = record_thing(globex, 0)
    record_thing(acme, 2)

    assert (first_of_globex.idx, first_of_globex.prev_hash) == (0, None)
    assert [idx for idx, *_ in rows(acme)] == [0, 1, 2]
    assert [idx for idx, *_ in rows(globex)] == [0]
    assert chain_breaks(rows(acme)) == []
    assert chain_breaks(rows(globex)) == []
    origins = {json.loads(bytes(m))["origin"] for *_, m in rows(acme) + rows(globex)}
    assert origins == {
        f"{settings.TRACKLAYER_AUDIT_ORIGIN}/{acme.public_id}",
        f"{settings.TRACKLAYER_AUDIT_ORIGIN}/{globex.public_id}",
    }
    assert AuditLogHead.objects.get(workspace=acme).size == 3
    assert AuditLogHead.objects.get(workspace=globex).size == 1
