"""Moving a workspace's data plane between regions (destinations/residency, docs/regions.md):
every row ends in the target only, with its id; counts and checksums are verified, stored and
audited (never data); a verification that fails twice leaves the workspace where it was."""

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from destinations.ingestion import selectors
from destinations.models import (
    Delivery,
    DeliveryAttempt,
    Event,
    EventMessageId,
    EventOperational,
    MinuteFigure,
    RejectedEvent,
    TrackingPlanViolation,
)
from destinations.residency import engine, services, tasks
from destinations.residency.tables import BY_NAME, TABLE_NAMES
from tests.audit_entries import audit_entries
from tests.destinations.factories import DestinationFactory
from tests.factories import EventFactory, UserFactory, WorkspaceFactory
from tracklayer.exceptions import ConflictError, DomainError, PermissionDeniedError
from workspaces.actors import SystemActor
from workspaces.admin import REGION_MOVE_TASK
from workspaces.models import RegionMove, RegionMoveState
from workspaces.region_moves import region_move_start
from workspaces.regions import region_db

pytestmark = pytest.mark.django_db

ACTOR = SystemActor("tests")
T0 = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)
MODELS = {
    "destinations_event": Event,
    "destinations_eventoperational": EventOperational,
    "destinations_eventmessageid": EventMessageId,
    "destinations_trackingplanviolation": TrackingPlanViolation,
    "destinations_minutefigure": MinuteFigure,
    "destinations_rejectedevent": RejectedEvent,
    "destinations_delivery": Delivery,
    "destinations_deliveryattempt": DeliveryAttempt,
}
# Values only the events carry: none of them may reach an audit entry.
EVENT_VALUES = ["order-secret-7731", "anon-moving-", "203.0.113.77", "Mozilla/5.0 Moving", "m-"]


@pytest.fixture(autouse=True)
def _no_quiesce_wait(monkeypatch):
    """In-process tests have no other process caching the workspace: no 6-second wait."""
    monkeypatch.setattr(services, "QUIESCE_SECONDS", 0)


def fill(workspace, *, events: int = 7) -> dict[str, int]:
    """Events with operational rows and message ids, a violation, deliveries with attempts."""
    destination = DestinationFactory(workspace=workspace)
    db = region_db(workspace.region)
    for n in range(events):
        received = T0 + timedelta(seconds=n)
        event = EventFactory(
            workspace=workspace,
            message_id=f"m-{n}",
            anonymous_id=f"anon-moving-{n}",
            properties={"order_id": "order-secret-7731", "total": n + 0.5},
            timestamp=received,
            received_at=received,
        )
        EventMessageId.objects.using(db).create(
            workspace=workspace, message_id=f"m-{n}", received_at=received
        )
        EventOperational.objects.using(db).create(
            event=event,
            workspace=workspace,
            ip="203.0.113.77",
            user_agent="Mozilla/5.0 Moving",
            received_at=received,
        )
        if n % 2 == 0:
            delivery = Delivery.objects.using(db).create(
                workspace=workspace,
                destination=destination,
                event=event,
                created_at=received,
                next_attempt_at=received,
                decision={"action": "deliver", "reasons": ["no_requirements"]},
            )
            DeliveryAttempt.objects.using(db).create(
                delivery=delivery,
                destination=destination,
                started_at=received,
                latency_ms=10 + n,
                status_code=200,
                outcome="delivered",
            )
    TrackingPlanViolation.objects.using(db).create(
        workspace=workspace,
        event_name="Order Completed",
        path="properties.total",
        code="type",
        count=3,
        example_message="must be a number",
        first_seen=T0,
        last_seen=T0,
    )
    return held(workspace, workspace.region)


def rows(table: str, workspace, region: str):
    model = MODELS[table]
    queryset = model.objects.in_region(region)
    if table == "destinations_deliveryattempt":
        return queryset.filter(delivery__workspace_id=workspace.pk)
    return queryset.filter(workspace_id=workspace.pk)


def held(workspace, region: str) -> dict[str, int]:
    return {table: rows(table, workspace, region).count() for table in TABLE_NAMES}


@pytest.mark.parametrize(("source", "target"), [("eu", "us"), ("us", "eu")])
def test_a_move_puts_every_row_in_the_target_only_verified_and_audited(source, target):
    workspace = WorkspaceFactory(region=source)
    bystander = WorkspaceFactory(region=source)
    counts = fill(workspace)
    bystander_counts = fill(bystander, events=2)
    event_ids = set(rows("destinations_event", workspace, source).values_list("id", flat=True))

    move = services.region_move(workspace=workspace, actor=ACTOR, target=target, batch_size=2)

    workspace.refresh_from_db()
    assert (workspace.region, workspace.moving_to) == (target, "")
    assert move.state == RegionMoveState.DONE and move.switched_at and move.finished_at
    assert held(workspace, target) == counts
    assert held(workspace, source) == dict.fromkeys(TABLE_NAMES, 0)
    assert held(bystander, source) == bystander_counts  # another workspace's rows stay
    assert set(rows("destinations_event", workspace, target).values_list("id", flat=True)) == (
        event_ids
    )
    assert {table: figures["rows"] for table, figures in move.tables.items()} == counts
    assert move.deleted == counts
    for table, figures in move.tables.items():
        assert figures == engine.figures(BY_NAME[table], region_db(target), workspace.pk).as_dict()

    entries = audit_entries(workspace)
    kinds = [entry["event_type"] for entry in entries]
    assert kinds[-3:] == [
        "workspace.region_move_started",
        "workspace.region_moved",
        "workspace.region_move_completed",
    ]
    started, moved, completed = entries[-3:]
    assert started["payload"] == {"move": move.public_id, "source": source, "target": target}
    assert moved["payload"]["tables"] == move.tables
    assert completed["payload"] == {"move": move.public_id, "deleted": counts}
    written = json.dumps(entries[-3:])
    for value in EVENT_VALUES:
        assert value not in written


def test_the_debugger_reads_the_moved_events_in_the_target():
    workspace = WorkspaceFactory(region="eu")
    fill(workspace, events=3)

    services.region_move(workspace=workspace, actor=ACTOR, target="us")

    workspace.refresh_from_db()
    names = [event.message_id for event in selectors.events_recent(workspace=workspace)]
    assert names == ["m-2", "m-1", "m-0"]


def test_a_move_is_refused_to_its_own_region_an_unknown_one_or_a_second_target():
    workspace = WorkspaceFactory(region="eu")
    with pytest.raises(DomainError, match="already lives in eu"):
        region_move_start(workspace=workspace, actor=ACTOR, target="eu")
    with pytest.raises(DomainError, match="Unknown region 'mars'"):
        region_move_start(workspace=workspace, actor=ACTOR, target="mars")

    move = region_move_start(workspace=workspace, actor=ACTOR, target="us")
    assert region_move_start(workspace=workspace, actor=ACTOR, target="us") == move
    with pytest.raises(ConflictError, match="already moving to us"):
        region_move_start(workspace=workspace, actor=ACTOR, target="eu")
    assert RegionMove.objects.filter(workspace=workspace).count() == 1


def test_only_staff_with_the_change_permission_start_a_move(workspace, admin_user):
    # The workspace's own admin is not staff: where the data lives is the operator's call.
    with pytest.raises(PermissionDeniedError):
        region_move_start(workspace=workspace, actor=admin_user, target="eu")
    staff = UserFactory(is_staff=True)
    with pytest.raises(PermissionDeniedError):
        region_move_start(workspace=workspace, actor=staff, target="eu")
    workspace.refresh_from_db()
    assert workspace.moving_to == ""


def test_the_command_resumes_only_the_open_moves_target():
    workspace = WorkspaceFactory(region="eu")
    region_move_start(workspace=workspace, actor=ACTOR, target="us")

    with pytest.raises(CommandError, match=r"open move to us .* --to us"):
        call_command("workspace", "move-region", "--workspace", workspace.slug, "--to", "eu")
    with pytest.raises(CommandError, match="No workspace with slug 'nope'"):
        call_command("workspace", "move-region", "--workspace", "nope", "--to", "eu")


def test_the_command_asks_for_the_slug_and_does_nothing_without_it(monkeypatch, capsys):
    workspace = WorkspaceFactory(region="eu")
    counts = fill(workspace, events=2)
    monkeypatch.setattr("builtins.input", lambda prompt: "not-the-slug")

    with pytest.raises(CommandError, match="Not confirmed"):
        call_command("workspace", "move-region", "--workspace", workspace.slug, "--to", "us")

    out = capsys.readouterr().out
    assert f"{workspace.slug}): eu → us" in out
    plan = {
        line.split()[0]: line.split()[1] for line in out.splitlines() if "  destinations_" in line
    }
    assert plan == {table: str(n) for table, n in counts.items()}
    assert not RegionMove.objects.filter(workspace=workspace).exists()
    workspace.refresh_from_db()
    assert (workspace.region, workspace.moving_to) == ("eu", "")


def test_the_command_moves_with_yes_and_prints_progress(capsys):
    workspace = WorkspaceFactory(region="us")
    counts = fill(workspace, events=4)

    call_command(
        "workspace", "move-region", "--workspace", workspace.slug, "--to", "eu", "--yes",
        "--batch-size", "3",
    )  # fmt: skip

    out = capsys.readouterr().out
    assert "rows copied" in out and "rows/s" in out
    assert f"{workspace.slug} moved to eu" in out
    assert held(workspace, "eu") == counts


def test_a_changed_target_row_is_copied_again_and_then_verifies():
    workspace = WorkspaceFactory(region="eu")
    fill(workspace, events=3)
    spec = BY_NAME["destinations_event"]
    engine.copy_table(
        spec, source="region_eu", target="region_us", workspace_id=workspace.pk, batch_size=2
    )
    rows("destinations_event", workspace, "us").filter(message_id="m-1").update(name="tampered")

    figures = engine.copy_and_verify(
        spec, source="region_eu", target="region_us", workspace_id=workspace.pk, batch_size=2
    )

    assert figures == engine.figures(spec, "region_us", workspace.pk)
    assert rows("destinations_event", workspace, "us").get(message_id="m-1").name != "tampered"


def test_a_verification_that_fails_twice_ends_the_move_and_keeps_the_workspace(monkeypatch):
    workspace = WorkspaceFactory(region="eu")
    counts = fill(workspace, events=3)
    move = region_move_start(workspace=workspace, actor=ACTOR, target="us")
    copy_table = engine.copy_table

    def copy_then_tamper(spec, **options):
        # A target that changes a row after every copy of the events: verification never agrees.
        copied = copy_table(spec, **options)
        if spec.table == "destinations_event":
            rows("destinations_event", workspace, "us").filter(message_id="m-0").update(
                name="tampered"
            )
        return copied

    monkeypatch.setattr(engine, "copy_table", copy_then_tamper)

    with pytest.raises(services.RegionMoveFailed, match="destinations_event"):
        services.region_move_run(move=move, actor=ACTOR, batch_size=2)

    move.refresh_from_db()
    workspace.refresh_from_db()
    assert move.state == RegionMoveState.FAILED and "destinations_event" in move.error
    assert (workspace.region, workspace.moving_to) == ("eu", "")
    assert held(workspace, "us") == dict.fromkeys(TABLE_NAMES, 0)
    assert held(workspace, "eu") == counts
    failed = audit_entries(workspace, "workspace.region_move_failed")[-1]["payload"]
    assert failed["table"] == "destinations_event"
    assert failed["source_figures"]["rows"] == failed["target_figures"]["rows"] == 3
    assert failed["source_figures"]["checksum"] != failed["target_figures"]["checksum"]
    for value in [*EVENT_VALUES, "tampered"]:
        assert value not in json.dumps(failed)


def test_a_resumed_move_skips_the_tables_it_verified_and_finishes_the_rest():
    workspace = WorkspaceFactory(region="eu")
    counts = fill(workspace, events=5)
    move = region_move_start(workspace=workspace, actor=ACTOR, target="us")
    # A first run that verified the events and died in the middle of the operational rows.
    spec = BY_NAME["destinations_event"]
    verified = engine.copy_and_verify(
        spec, source="region_eu", target="region_us", workspace_id=workspace.pk, batch_size=2
    )
    move.tables = {spec.table: verified.as_dict()}
    move.save(update_fields=["tables"])
    engine._copy_batch(
        BY_NAME["destinations_eventoperational"], "region_eu", "region_us", workspace.pk, None,
        rows("destinations_eventoperational", workspace, "eu").order_by("event_id")[1].event_id,
    )  # fmt: skip
    assert rows("destinations_eventoperational", workspace, "us").count() == 2

    move = services.region_move_run(move=move, actor=ACTOR, batch_size=2)

    assert move.state == RegionMoveState.DONE
    assert held(workspace, "us") == counts
    assert move.tables["destinations_event"] == verified.as_dict()


def test_a_late_write_to_the_source_after_its_table_was_verified_is_copied_too():
    workspace = WorkspaceFactory(region="eu")
    fill(workspace, events=3)
    move = region_move_start(workspace=workspace, actor=ACTOR, target="us")
    # Verified before a write that had read the workspace's state before the move commits.
    for table in ("destinations_event", "destinations_eventoperational"):
        verified = engine.copy_and_verify(
            BY_NAME[table], source="region_eu", target="region_us",
            workspace_id=workspace.pk, batch_size=2,
        )  # fmt: skip
        move.tables = {**move.tables, table: verified.as_dict()}
    move.save(update_fields=["tables"])
    late = EventFactory(workspace=workspace, message_id="late", received_at=T0, timestamp=T0)
    counts = held(workspace, "eu")

    move = services.region_move_run(move=move, actor=ACTOR, batch_size=2)

    assert move.state == RegionMoveState.DONE
    assert held(workspace, "us") == counts
    assert rows("destinations_event", workspace, "us").filter(pk=late.pk).exists()
    assert move.tables["destinations_event"]["rows"] == 4


def test_the_admins_task_name_is_a_task_a_worker_registers():
    # In a process of its own: this test module's imports must not be what registers it.
    found = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); "
         "from tracklayer.celery import app; app.loader.import_default_modules(); "
         f"print({REGION_MOVE_TASK!r} in app.tasks)"],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert found.stdout.strip() == "True"


def test_the_task_carries_an_open_move_to_its_end():
    workspace = WorkspaceFactory(region="eu")
    counts = fill(workspace, events=2)
    move = region_move_start(workspace=workspace, actor=ACTOR, target="us")

    tasks.region_move_run.apply(args=[move.public_id])

    move.refresh_from_db()
    assert move.state == RegionMoveState.DONE
    assert held(workspace, "us") == counts
    assert audit_entries(workspace)[-1]["actor"] == "system:scheduler"
