"""A move killed half-way and run again: ``tracklayer workspace move-region`` as a real process,
SIGKILLed while the target holds some but not all rows (and again while the source's copy is
half deleted); the next run finishes with every row exactly once, nothing lost."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connections

from destinations.residency.tables import TABLE_NAMES, TABLES
from tests.databases import database_env
from tests.destinations.factories import DestinationFactory
from tests.factories import WorkspaceFactory
from workspaces.models import RegionMove, RegionMoveState
from workspaces.regions import region_db

ROOT = Path(__file__).resolve().parents[2]
EVENTS = 20_000
BATCH = "200"


def seed(workspace, destination, events: int) -> dict[str, int]:
    """``events`` events with operational rows and message ids, a delivery and an attempt for
    every fourth, one violation — written by SQL, as many as a real move meets."""
    with connections[region_db(workspace.region)].cursor() as cursor:
        cursor.execute(
            "INSERT INTO destinations_event (workspace_id, message_id, type, name, anonymous_id,"
            " user_id_hash, group_id_hash, previous_id_hash, timestamp, received_at, properties,"
            " traits, context, integrations, identifiers, consent, validation, status, source,"
            " fanout_pending) SELECT %s, 'm-' || n, 'track', 'Order Completed', 'anon-' || n,"
            " '', '', '', now(), now(), jsonb_build_object('n', n), '{}', '{}', '{}', '{}',"
            " '{}', '{}', 'ok', 'native', false FROM generate_series(1, %s) n",
            [workspace.pk, events],
        )
        cursor.execute(
            "INSERT INTO destinations_eventoperational (event_id, workspace_id, ip, user_agent,"
            " received_at) SELECT id, workspace_id, '203.0.113.9', 'UA ' || id, received_at"
            " FROM destinations_event WHERE workspace_id = %s",
            [workspace.pk],
        )
        cursor.execute(
            "INSERT INTO destinations_eventmessageid (workspace_id, message_id, received_at)"
            " SELECT workspace_id, message_id, received_at FROM destinations_event"
            " WHERE workspace_id = %s",
            [workspace.pk],
        )
        cursor.execute(
            "INSERT INTO destinations_trackingplanviolation (workspace_id, event_name, path, code,"
            " count, example_message, first_seen, last_seen) VALUES"
            " (%s, 'Order Completed', 'properties.total', 'type', 9, 'must be a number', now(),"
            " now())",
            [workspace.pk],
        )
        cursor.execute(
            "INSERT INTO destinations_delivery (workspace_id, destination_id, event_id, status,"
            " attempts, next_attempt_at, decision, last_error, dead_reason, created_at,"
            " updated_at) SELECT workspace_id, %s, id, 'delivered', 1, now(), '{}', '', '',"
            " now(), now() FROM destinations_event WHERE workspace_id = %s AND id %% 4 = 0",
            [destination.pk, workspace.pk],
        )
        cursor.execute(
            "INSERT INTO destinations_deliveryattempt (delivery_id, destination_id, started_at,"
            " latency_ms, status_code, outcome, error) SELECT id, destination_id, now(), 12,"
            " 200, 'delivered', '' FROM destinations_delivery WHERE workspace_id = %s",
            [workspace.pk],
        )
    return held(workspace, workspace.region)


def held(workspace, region: str) -> dict[str, int]:
    counts = {}
    with connections[region_db(region)].cursor() as cursor:
        for spec in TABLES:
            cursor.execute(
                f"SELECT count(*) FROM {spec.table} t WHERE {spec.scope}",  # noqa: S608
                {"workspace": workspace.pk},
            )
            counts[spec.table] = cursor.fetchone()[0]
    return counts


def move_command(workspace, target: str) -> subprocess.Popen:
    env = {**os.environ, **database_env(), "DJANGO_SETTINGS_MODULE": "tests.settings"}
    return subprocess.Popen(
        [sys.executable, "manage.py", "workspace", "move-region", "--workspace", workspace.slug,
         "--to", target, "--yes", "--batch-size", BATCH],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip


def kill_when(process: subprocess.Popen, condition, *, timeout: float = 120) -> None:
    """SIGKILL ``process`` as soon as ``condition()`` holds (polled); fail if it ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            return
        if process.poll() is not None:
            pytest.fail(f"the move ended before it could be killed:\n{process.stdout.read()}")
        time.sleep(0.01)
    process.kill()
    pytest.fail("the condition to kill the move never held")


def run_to_the_end(workspace, target: str) -> str:
    process = move_command(workspace, target)
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output
    return output


@pytest.fixture
def moving_workspace(transactional_db):
    workspace = WorkspaceFactory(region="eu")
    destination = DestinationFactory(workspace=workspace)
    return workspace, seed(workspace, destination, EVENTS)


def test_a_move_killed_while_copying_resumes_and_copies_each_row_once(moving_workspace):
    workspace, counts = moving_workspace

    def half_copied():
        copied = held(workspace, "us")["destinations_event"]
        return 0 < copied < EVENTS

    kill_when(move_command(workspace, "us"), half_copied)
    partial = held(workspace, "us")
    assert 0 < partial["destinations_event"] < EVENTS
    move = RegionMove.objects.get(workspace=workspace)
    assert move.state == RegionMoveState.COPYING
    workspace.refresh_from_db()
    assert (workspace.region, workspace.moving_to) == ("eu", "us")

    output = run_to_the_end(workspace, "us")

    assert "moved to us" in output
    move.refresh_from_db()
    workspace.refresh_from_db()
    assert move.state == RegionMoveState.DONE
    assert (workspace.region, workspace.moving_to) == ("us", "")
    assert held(workspace, "us") == counts
    assert held(workspace, "eu") == dict.fromkeys(TABLE_NAMES, 0)
    assert {table: figures["rows"] for table, figures in move.tables.items()} == counts
    assert move.deleted == counts


def test_a_move_killed_while_deleting_the_source_resumes_and_finishes(moving_workspace):
    workspace, counts = moving_workspace

    def half_deleted():
        state = RegionMove.objects.filter(workspace=workspace).values_list("state", flat=True)
        if list(state) != [RegionMoveState.CLEANING]:
            return False
        left = held(workspace, "eu")["destinations_eventmessageid"]
        return 0 < left < EVENTS

    kill_when(move_command(workspace, "us"), half_deleted)
    workspace.refresh_from_db()
    assert (workspace.region, workspace.moving_to) == ("us", "")  # switched before deleting

    run_to_the_end(workspace, "us")

    move = RegionMove.objects.get(workspace=workspace)
    assert move.state == RegionMoveState.DONE
    assert held(workspace, "us") == counts
    assert held(workspace, "eu") == dict.fromkeys(TABLE_NAMES, 0)
    assert move.deleted == counts
