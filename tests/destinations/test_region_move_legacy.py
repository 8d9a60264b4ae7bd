"""``tracklayer regions adopt-legacy``: a control database migrated before regions still holds
data-plane tables with rows; they are copied into each workspace's region with the move's
engine, verified, audited per workspace, and the legacy tables dropped."""

import importlib
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections

from destinations.models import (
    Delivery,
    DeliveryAttempt,
    Event,
    EventMessageId,
    EventOperational,
    TrackingPlanViolation,
)
from destinations.residency import services
from destinations.residency.tables import TABLE_NAMES
from tests.audit_entries import audit_entries
from tests.destinations.factories import DestinationFactory
from tests.factories import EventFactory, WorkspaceFactory
from workspaces.actors import SystemActor
from workspaces.region_moves import region_move_start

pytestmark = pytest.mark.django_db

LEGACY_MODELS = [
    Event,
    EventOperational,
    EventMessageId,
    TrackingPlanViolation,
    Delivery,
    DeliveryAttempt,
]


# What a database from before regions holds, in the move's copy order (the tables added since,
# minute figures and refused events, never were in the control database).
LEGACY_TABLES = [
    name for name in TABLE_NAMES if name in {model._meta.db_table for model in LEGACY_MODELS}
]


@pytest.fixture
def legacy_tables():
    """The data-plane tables in the control database, as a database from before regions has
    them (created in the test's transaction, so they go with it)."""
    # Today's models index the SHA-256 of anonymous_id through a function their migration
    # creates in each region's database (destinations 0007): the control database needs it too
    # to hold them here.
    matching = importlib.import_module(
        "destinations.migrations.0007_event_subject_matching_indexes"
    )
    with connections["default"].schema_editor() as editor:
        editor.execute(matching.SHA256_UTF8)
        for model in LEGACY_MODELS:
            editor.create_model(model)
    return LEGACY_TABLES


def legacy_rows(workspace, destination, events: int) -> None:
    with connections["default"].cursor() as cursor:
        for n in range(events):
            cursor.execute(
                "INSERT INTO destinations_event (workspace_id, message_id, type, name,"
                " anonymous_id, user_id_hash, group_id_hash, previous_id_hash, timestamp,"
                " received_at, properties, traits, context, integrations, identifiers, consent,"
                " validation, status, source, fanout_pending) VALUES (%s, %s, 'track', 'Order',"
                " 'anon-legacy', '', '', '', now(), now(), '{\"total\": 5}', '{}', '{}', '{}',"
                " '{}', '{}', '{}', 'ok', 'native', false) RETURNING id",
                [workspace.pk, f"legacy-{n}"],
            )
            event_id = cursor.fetchone()[0]
            cursor.execute(
                "INSERT INTO destinations_eventoperational VALUES (%s, %s, '198.51.100.4', 'UA',"
                " now())",
                [event_id, workspace.pk],
            )
            cursor.execute(
                "INSERT INTO destinations_eventmessageid VALUES (%s, %s, now())",
                [workspace.pk, f"legacy-{n}"],
            )
            cursor.execute(
                "INSERT INTO destinations_delivery (workspace_id, destination_id, event_id,"
                " status, attempts, next_attempt_at, decision, last_error, dead_reason,"
                " created_at, updated_at) VALUES (%s, %s, %s, 'delivered', 1, now(), '{}', '',"
                " '', now(), now()) RETURNING id",
                [workspace.pk, destination.pk, event_id],
            )
            cursor.execute(
                "INSERT INTO destinations_deliveryattempt (delivery_id, destination_id,"
                " started_at, latency_ms, status_code, outcome, error) VALUES (%s, %s, now(), 9,"
                " 200, 'delivered', '')",
                [cursor.fetchone()[0], destination.pk],
            )
        # The foreign keys are checked at commit, which the test's transaction never reaches;
        # checked now, they leave no pending check that would stop the DROP TABLE.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def in_region(workspace) -> dict[str, int]:
    return {
        model._meta.db_table: model.objects.for_workspace(workspace).count()
        for model in LEGACY_MODELS
    }


def test_legacy_rows_move_to_each_workspaces_region_and_the_tables_go(legacy_tables, capsys):
    eu, us = WorkspaceFactory(region="eu"), WorkspaceFactory(region="us")
    legacy_rows(eu, DestinationFactory(workspace=eu), 3)
    legacy_rows(us, DestinationFactory(workspace=us), 2)
    legacy_ids = set(
        Event.objects.using("default").filter(workspace_id=eu.pk).values_list("id", flat=True)
    )

    call_command("regions", "adopt-legacy", "--yes", "--batch-size", "2")

    assert services.legacy_tables() == []
    expected = {table: 3 for table in LEGACY_TABLES} | {"destinations_trackingplanviolation": 0}
    assert in_region(eu) == expected
    assert in_region(us) == {table: n and 2 for table, n in expected.items()}
    assert set(Event.objects.for_workspace(eu).values_list("id", flat=True)) == legacy_ids
    assert Event.objects.in_region("us").filter(workspace_id=eu.pk).count() == 0
    adopted = audit_entries(eu, "workspace.data_plane_adopted")[-1]
    assert adopted["actor"] == "system:cli"
    assert adopted["payload"]["region"] == "eu"
    assert adopted["payload"]["tables"]["destinations_event"]["rows"] == 3
    assert "anon-legacy" not in json.dumps(adopted) and "198.51.100.4" not in json.dumps(adopted)
    assert "Dropped the legacy tables" in capsys.readouterr().out


def test_nothing_is_dropped_when_the_region_already_holds_new_events(legacy_tables):
    eu = WorkspaceFactory(region="eu")
    legacy_rows(eu, DestinationFactory(workspace=eu), 1)
    EventFactory(workspace=eu)  # written by the new release: numbered from the EU block

    with pytest.raises(CommandError, match="already holds new events"):
        call_command("regions", "adopt-legacy", "--yes")

    assert services.legacy_tables() == LEGACY_TABLES
    assert Event.objects.for_workspace(eu).count() == 1


def test_without_legacy_tables_there_is_nothing_to_do(capsys):
    call_command("regions", "adopt-legacy", "--yes")
    assert "no legacy data-plane tables" in capsys.readouterr().out


def test_status_lists_regions_databases_and_open_moves(capsys):
    workspace = WorkspaceFactory(region="eu")
    move = region_move_start(workspace=workspace, actor=SystemActor("tests"), target="us")

    call_command("regions", "status")

    out = capsys.readouterr().out
    eu_line = next(line for line in out.splitlines() if line.startswith("eu "))
    assert "European Union" in eu_line and "_eu" in eu_line and "workspace(s)" in eu_line
    assert "@" not in out and "postgres://" not in out  # host and name, no credentials
    tables = len(TABLE_NAMES)
    assert f"open move {move.public_id}: {workspace.slug} eu → us, copying, 0/{tables}" in out
