"""The purge of a deleted workspace (destinations/teardown, docs/workspace-lifecycle.md): past
its 90 days the daily task removes its rows from every region and every control-plane row
that points at it, leaves the other workspace's rows alone, and keeps a tombstone whose audit
log still verifies with ``workspace.purged`` last."""

import datetime as dt

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections
from django.utils import timezone

from audit import export
from audit.models import AuditEntry, AuditLogHead
from audit.selectors import audit_verify
from destinations import tasks as destination_tasks
from destinations.models import IngestionSettings
from destinations.residency.tables import TABLE_NAMES, TABLES
from destinations.retention.purge import retention_purge
from destinations.teardown import purge, tasks
from privacy.requests.services import dsr_create
from privacy.services import consent_settings_update
from tests.audit_entries import last_entry
from tests.destinations.factories import DestinationFactory
from tests.destinations.test_region_move_resume import held, seed
from tests.factories import WorkspaceFactory
from tracklayer.exceptions import ConflictError
from tracklayer.regions import REGIONS
from workspaces import services
from workspaces.actors import SystemActor
from workspaces.models import ApiKey, Membership, Role, Workspace
from workspaces.regions import region_db
from workspaces.scim.services import scim_token_create
from workspaces.sso.services import sp_config_ensure

pytestmark = pytest.mark.django_db

ACTOR = SystemActor("tests")
EVENTS = 40


def control_rows(workspace) -> dict[str, int]:
    """Every control-plane row pointing at the workspace, per model (what the purge deletes)."""
    return {
        relation.related_model._meta.label: relation.related_model._base_manager.filter(
            **{relation.field.name: workspace}
        ).count()
        for relation in purge.control_plane_relations()
    }


def furnish(workspace, admin) -> dict[str, int]:
    """A workspace as customers leave it: data-plane rows in its region, and configuration."""
    destination = DestinationFactory(workspace=workspace)
    counts = seed(workspace, destination, EVENTS)
    services.member_invite(workspace=workspace, actor=admin, email="x@example.com", role="viewer")
    services.api_key_create(workspace=workspace, actor=admin, name="Shop")
    scim_token_create(workspace=workspace, actor=admin, name="Okta")
    sp_config_ensure(workspace=workspace)
    consent_settings_update(workspace=workspace, actor=admin, values={})
    dsr_create(
        workspace=workspace,
        actor=admin,
        type="access",  # its match hashes wait in the region (working data)
        subject={"email": "ada@example.com"},
        enqueue=False,
    )
    export.audit_export_config_update(
        workspace=workspace,
        actor=admin,
        values={"enabled": True, "target": "directory", "directory": "audit", "prefix": ""},
    )
    return counts


def deleted_long_ago(workspace, *, days: int = 91) -> Workspace:
    """Delete the workspace, then move its deletion ``days`` into the past (the clock's run)."""
    services.workspace_delete(workspace=workspace, actor=ACTOR, confirm_slug=workspace.slug)
    then = timezone.now() - dt.timedelta(days=days)
    Workspace.objects.filter(pk=workspace.pk).update(
        deleted_at=then, purge_after=then + services.PURGE_AFTER
    )
    workspace.refresh_from_db()
    return workspace


def run_daily(monkeypatch) -> list[int]:
    """Beat's daily task, its queued purges run here (in order) instead of by a worker."""
    queued = []
    monkeypatch.setattr(tasks.workspace_purge_run, "delay", queued.append)
    tasks.workspaces_purge_due()
    for workspace_id in queued:
        tasks.workspace_purge_run(workspace_id)
    return queued


@pytest.fixture
def both(workspace, other_workspace, admin_user, other_admin_user):
    mine = furnish(workspace, admin_user)
    theirs = furnish(other_workspace, other_admin_user)
    return mine, theirs


def test_the_daily_purge_removes_everything_but_the_verifiable_log(
    workspace, other_workspace, both, monkeypatch
):
    mine, theirs = both
    assert sum(mine.values()) > EVENTS
    # A copy a failed move left in the other region goes too ("each region").
    stray = WorkspaceFactory(region="eu")  # any workspace's id would do; this one stays
    with connections[region_db("eu")].cursor() as cursor:
        cursor.execute(
            "INSERT INTO destinations_eventmessageid (workspace_id, message_id, received_at)"
            " VALUES (%s, 'stray-1', now()), (%s, 'kept-1', now())",
            [workspace.pk, stray.pk],
        )
        # The requests' working data a region move left behind (it does not carry it).
        cursor.execute(
            "INSERT INTO privacy_requestsubject (workspace_id, request_id, kind, hash)"
            " VALUES (%s, %s, 'em', 'left-behind')",
            [workspace.pk, payload_request_id(workspace)],
        )
    other_control = control_rows(other_workspace)
    public_id, region = workspace.public_id, workspace.region
    deleted_long_ago(workspace)

    assert run_daily(monkeypatch) == [workspace.pk]

    assert held(workspace, region) == dict.fromkeys(TABLE_NAMES, 0)
    assert held(workspace, "eu") == dict.fromkeys(TABLE_NAMES, 0)
    assert held(other_workspace, other_workspace.region) == theirs
    assert held(stray, "eu")["destinations_eventmessageid"] == 1
    assert set(control_rows(workspace).values()) == {0}
    assert control_rows(other_workspace) == other_control
    assert ApiKey.objects.filter(workspace=workspace).count() == 0
    assert not Membership.objects.filter(workspace=workspace).exists()
    tombstone = Workspace.objects.get(pk=workspace.pk)
    assert (tombstone.public_id, tombstone.region) == (public_id, region)
    assert (tombstone.name, tombstone.slug) == ("", None)
    assert tombstone.purged_at is not None and tombstone.deleted_at is not None
    # The log outlives it, and still verifies; the last word is the purge.
    assert AuditLogHead.objects.filter(workspace=workspace).exists()
    assert audit_verify(workspace=tombstone)["chain_status"] == "valid"
    entry = last_entry(tombstone)
    assert entry["event_type"] == "workspace.purged"
    assert entry["actor"] == "system:scheduler"
    payload = entry["payload"]
    assert payload["data_plane"] == {region: {t: n for t, n in mine.items() if n}} | {
        code: {"destinations_eventmessageid": 1} for code in REGIONS if code != region
    }
    assert payload["control_plane"]["workspaces.Membership"] == 1
    assert payload["control_plane"]["workspaces.ApiKey"] == 1
    assert payload["control_plane"]["destinations.Destination"] == 1
    assert payload["control_plane"]["privacy.DataSubjectRequest"] == 1
    assert payload["control_plane"]["django_celery_beat.PeriodicTask"] == 1
    assert payload["privacy_request_working_data"] == 1
    assert working_rows(workspace) == dict.fromkeys(REGIONS, 0)
    assert working_rows(other_workspace)[other_workspace.region] > 0
    # The slug is free again; the next run finds nothing to do.
    WorkspaceFactory(name="Acme", slug="acme")
    assert run_daily(monkeypatch) == []
    assert AuditEntry.objects.filter(workspace=tombstone).latest("idx").event_type == (
        "workspace.purged"
    )


def working_rows(workspace) -> dict[str, int]:
    """The workspace's data-subject requests' working rows per region."""
    counts = {}
    for code in REGIONS:
        with connections[region_db(code)].cursor() as cursor:
            cursor.execute(
                "SELECT (SELECT count(*) FROM privacy_requestsubject WHERE workspace_id = %s)"
                " + (SELECT count(*) FROM privacy_requestprogress WHERE workspace_id = %s)",
                [workspace.pk, workspace.pk],
            )
            counts[code] = cursor.fetchone()[0]
    return counts


def payload_request_id(workspace) -> str:
    created = AuditEntry.objects.filter(workspace=workspace, event_type="privacy.request_created")
    return created.get().resource_id


def test_nothing_is_purged_before_the_90_days(workspace, admin_user, monkeypatch):
    counts = furnish(workspace, admin_user)
    deleted_long_ago(workspace, days=89)

    assert run_daily(monkeypatch) == []
    with pytest.raises(CommandError, match="--force"):
        call_command("workspace", "purge", "--workspace", "acme", "--now", "--yes")

    assert held(workspace, workspace.region) == counts
    workspace.refresh_from_db()
    assert workspace.purged_at is None
    # ``--force`` is the operator's decision to purge early.
    call_command("workspace", "purge", "--workspace", "acme", "--now", "--force", "--yes")
    workspace.refresh_from_db()
    assert workspace.purged_at is not None
    assert held(workspace, workspace.region) == dict.fromkeys(TABLE_NAMES, 0)
    assert last_entry(workspace)["actor"] == "system:cli"


def test_only_deleted_workspaces_are_purged(workspace, admin_user):
    with pytest.raises(CommandError, match="not deleted"):
        call_command("workspace", "purge", "--workspace", "acme", "--now", "--force", "--yes")
    with pytest.raises(ConflictError, match="not deleted"):
        purge.workspace_purge(workspace=workspace, actor=ACTOR, force=True)
    assert Workspace.objects.get(pk=workspace.pk).purged_at is None


def test_an_interrupted_purge_resumes_with_exact_counts_and_cannot_be_restored(
    workspace, admin_user, monkeypatch
):
    counts = furnish(workspace, admin_user)
    deleted_long_ago(workspace)
    real = purge.delete_rows
    calls = []

    def crash_after_two_tables(spec, alias, workspace_id, batch_size):
        calls.append(spec.table)
        if len(calls) == 3:
            raise RuntimeError("worker killed")
        return real(spec, alias, workspace_id, batch_size)

    monkeypatch.setattr(purge, "delete_rows", crash_after_two_tables)
    with pytest.raises(RuntimeError):
        purge.workspace_purge(workspace=workspace, actor=ACTOR, batch_size=7)
    partial = held(workspace, workspace.region)
    first, second = (spec.table for spec in reversed(TABLES[-2:]))
    assert partial[first] == partial[second] == 0
    assert partial["destinations_event"] == counts["destinations_event"] > 0
    # Half-purged: a restore would bring back a workspace with holes; refused.
    with pytest.raises(ConflictError, match="purge has begun"):
        services.workspace_restore(workspace=workspace, actor=ACTOR)

    monkeypatch.setattr(purge, "delete_rows", real)
    payload = purge.workspace_purge(workspace=workspace, actor=ACTOR, batch_size=7)

    assert payload["data_plane"][workspace.region] == {t: n for t, n in counts.items() if n}
    assert held(workspace, workspace.region) == dict.fromkeys(TABLE_NAMES, 0)
    assert audit_verify(workspace=workspace)["chain_status"] == "valid"
    assert [e.event_type for e in AuditEntry.objects.filter(workspace=workspace)].count(
        "workspace.purged"
    ) == 1


def test_purging_twice_is_refused(workspace, admin_user):
    deleted_long_ago(workspace)
    purge.workspace_purge(workspace=workspace, actor=ACTOR)
    workspace.refresh_from_db()

    with pytest.raises(ConflictError, match="purged on"):
        purge.workspace_purge(workspace=workspace, actor=ACTOR)
    with pytest.raises(ConflictError, match="purged"):
        services.workspace_restore(workspace=workspace, actor=ACTOR)


def test_a_table_the_purge_does_not_know_stops_it_before_the_control_plane(
    workspace, admin_user, monkeypatch
):
    """Fail closed: rows of a data-plane model outside the move's table list keep the purge
    from finishing (and from writing ``workspace.purged``) until the list names it."""
    furnish(workspace, admin_user)
    deleted_long_ago(workspace)
    event_table = TABLES[0]
    monkeypatch.setattr(purge, "TABLES", TABLES[1:])
    monkeypatch.setattr(purge, "TABLE_NAMES", TABLE_NAMES[1:])

    with pytest.raises(purge.PurgeIncomplete, match=event_table.table):
        purge.workspace_purge(workspace=workspace, actor=ACTOR)

    workspace.refresh_from_db()
    assert workspace.purged_at is None
    assert Membership.objects.filter(workspace=workspace).exists()


def test_a_workspace_restored_before_the_purge_keeps_everything(workspace, admin_user, monkeypatch):
    counts = furnish(workspace, admin_user)
    deleted_long_ago(workspace, days=10)
    services.workspace_restore(workspace=workspace, actor=ACTOR)

    assert run_daily(monkeypatch) == []
    with pytest.raises(ConflictError, match="not deleted"):
        purge.workspace_purge(workspace=workspace, actor=ACTOR, force=True)
    assert held(workspace, workspace.region) == counts
    assert Membership.objects.filter(workspace=workspace, role=Role.ADMIN).exists()


def test_the_hourly_retention_run_leaves_a_tombstone_alone(workspace, admin_user, monkeypatch):
    """Retention's hourly run queues no purged workspace, and its purge of one recreates no
    settings row (the tombstone keeps only its log)."""
    furnish(workspace, admin_user)
    purge.workspace_purge(workspace=deleted_long_ago(workspace), actor=ACTOR)
    queued = []
    monkeypatch.setattr(
        destination_tasks.retention_purge_task, "apply_async", lambda **kw: queued.append(kw)
    )
    destination_tasks.events_purge_expired_all()
    assert [kw["args"] for kw in queued] == []
    retention_purge(workspace=workspace, actor=ACTOR)
    assert not IngestionSettings.objects.filter(workspace=workspace).exists()


def test_retention_leaves_a_workspace_alone_once_its_purge_has_begun(workspace, admin_user):
    """The purge counted the rows when it began and reports them all: retention deleting some
    meanwhile (and auditing them) would count them twice."""
    furnish(workspace, admin_user)
    deleted = deleted_long_ago(workspace)
    purge._counts_taken(deleted)  # the purge began, then stopped (a crash)
    assert retention_purge(workspace=deleted, actor=ACTOR).skipped
