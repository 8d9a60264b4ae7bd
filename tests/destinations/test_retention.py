"""Retention (issue 15): the windows (admins, audited, bounded) and the purge that enforces
them — per window, in batches, in the workspace's region, never under a move, recorded."""

import threading
from datetime import timedelta

import pytest
from django.db import OperationalError, connections, transaction
from django.urls import reverse
from django.utils import timezone

from destinations import tasks
from destinations.models import (
    Delivery,
    DeliveryAttempt,
    Event,
    EventMessageId,
    EventOperational,
    IngestionSettings,
    RejectedEvent,
)
from destinations.retention import purge
from destinations.retention.selectors import retention_overview
from destinations.retention.services import retention_windows_update
from tests.audit_entries import audit_count, last_entry
from tests.destinations.factories import (
    DeliveryAttemptFactory,
    DeliveryFactory,
    DestinationFactory,
)
from tests.destinations.helpers import data_count
from tests.factories import WorkspaceFactory, event_with_operational_data
from tracklayer.exceptions import DomainError, PermissionDeniedError
from workspaces.models import Workspace

pytestmark = pytest.mark.django_db

NOW = timezone.now()
MINUTE = timedelta(minutes=1)


def days(n: int) -> timedelta:
    return timedelta(days=n)


def delivered(workspace, destination, event, *, created_at, status="delivered", attempts=1):
    delivery = DeliveryFactory(
        destination=destination, workspace=workspace, event=event, status=status,
        created_at=created_at,
    )  # fmt: skip
    for _ in range(attempts):
        DeliveryAttemptFactory(delivery=delivery, started_at=created_at)
    return delivery


@pytest.fixture
def eu_workspace(admin_user):
    return WorkspaceFactory(name="Europa", owner=admin_user, region="eu")


# --- Per window: just inside kept, just outside deleted ----------------------------------------


def test_events_past_their_window_go_with_their_children(workspace, system_actor):
    hook = DestinationFactory(workspace=workspace)
    old = event_with_operational_data(workspace, "old", NOW - days(180) - MINUTE)
    kept = event_with_operational_data(workspace, "kept", NOW - days(180) + MINUTE)
    # A delivery younger than its own window still goes with its expired event.
    delivered(workspace, hook, old, created_at=NOW - days(10), attempts=2)
    delivered(workspace, hook, kept, created_at=NOW - days(10))

    result = purge.retention_purge(workspace=workspace, actor=system_actor, now=NOW)

    assert data_count(Event, workspace=workspace) == 1
    assert data_count(Event, pk=kept.pk) == 1
    assert data_count(Delivery, event_id=old.pk) == 0
    assert data_count(DeliveryAttempt, delivery__event_id=old.pk) == 0
    assert data_count(Delivery, event_id=kept.pk) == 1
    assert data_count(EventOperational, event_id=old.pk) == 0
    assert result.purged["events"] == 1
    assert result.purged["deliveries"] == 1
    assert result.purged["attempts"] == 2


def test_operational_data_past_its_window_goes_and_the_event_stays(workspace, system_actor):
    old = event_with_operational_data(workspace, "old", NOW - days(30) - MINUTE)
    kept = event_with_operational_data(workspace, "kept", NOW - days(30) + MINUTE)

    result = purge.retention_purge(workspace=workspace, actor=system_actor, now=NOW)

    assert data_count(EventOperational, event_id=old.pk) == 0
    assert data_count(EventOperational, event_id=kept.pk) == 1
    assert data_count(Event, workspace=workspace) == 2
    assert (result.purged["operational"], result.purged["events"]) == (1, 0)


def test_finished_deliveries_past_their_window_go_pending_ones_stay(workspace, system_actor):
    hook = DestinationFactory(workspace=workspace)
    event = event_with_operational_data(workspace, "e", NOW - days(1))
    others = [event_with_operational_data(workspace, f"e{i}", NOW - days(1)) for i in range(4)]
    stale = delivered(workspace, hook, event, created_at=NOW - days(90) - MINUTE, attempts=3)
    dead = delivered(workspace, hook, others[0], created_at=NOW - days(90) - MINUTE, status="dead")
    pending = delivered(workspace, hook, others[1], created_at=NOW - days(200), status="pending")
    inside = delivered(workspace, hook, others[2], created_at=NOW - days(90) + MINUTE)

    result = purge.retention_purge(workspace=workspace, actor=system_actor, now=NOW)

    for gone in (stale, dead):
        assert data_count(Delivery, pk=gone.pk) == 0
        assert data_count(DeliveryAttempt, delivery_id=gone.pk) == 0
    assert data_count(Delivery, pk=pending.pk) == data_count(Delivery, pk=inside.pk) == 1
    assert data_count(Event, workspace=workspace) == 5  # the events have windows of their own
    assert (result.purged["deliveries"], result.purged["attempts"]) == (2, 4)


def test_deduplication_keys_past_the_window_go(workspace, system_actor):
    event_with_operational_data(workspace, "old", NOW - days(30) - MINUTE)
    event_with_operational_data(workspace, "kept", NOW - days(30) + MINUTE)

    result = purge.retention_purge(workspace=workspace, actor=system_actor, now=NOW)

    assert sorted(
        EventMessageId.objects.for_workspace(workspace).values_list("message_id", flat=True)
    ) == ["kept"]
    assert result.purged["message_ids"] == 1


def test_shorter_windows_apply(workspace, admin_user, system_actor):
    retention_windows_update(
        workspace=workspace,
        actor=admin_user,
        values={"events_retention_days": 7, "operational_retention_days": 0},
    )
    event_with_operational_data(workspace, "old", NOW - days(7) - MINUTE)
    fresh = event_with_operational_data(workspace, "fresh", NOW - days(7) + MINUTE)

    purge.retention_purge(workspace=workspace, actor=system_actor, now=NOW)

    assert list(Event.objects.for_workspace(workspace).values_list("pk", flat=True)) == [fresh.pk]
    assert data_count(EventOperational, workspace=workspace) == 0


def test_other_workspaces_are_not_touched(workspace, other_workspace, system_actor):
    event_with_operational_data(other_workspace, "theirs", NOW - days(400))

    purge.retention_purge(workspace=workspace, actor=system_actor, now=NOW)

    assert data_count(Event, workspace=other_workspace) == 1
    assert data_count(EventOperational, workspace=other_workspace) == 1


# --- Batches -----------------------------------------------------------------------------------


def test_a_small_batch_size_deletes_everything_over_several_transactions(
    workspace, system_actor, monkeypatch
):
    for i in range(7):
        event_with_operational_data(workspace, f"old-{i}", NOW - days(200))
    batches = []
    real = purge._batch

    def counted(*args, **kwargs):
        counts = real(*args, **kwargs)
        batches.append(counts)
        return counts

    monkeypatch.setattr(purge, "_batch", counted)

    result = purge.retention_purge(workspace=workspace, actor=system_actor, now=NOW, batch_rows=3)

    event_batches = [counts["events"] for counts in batches if "events" in counts]
    assert event_batches == [3, 3, 1]
    assert all(max(counts.values()) <= 3 for counts in batches)
    assert data_count(Event, workspace=workspace) == 0
    assert data_count(EventMessageId, workspace=workspace) == 0
    assert result.purged["events"] == result.purged["operational"] == 7
    assert result.batches == len(batches)


# --- Regions and moves -------------------------------------------------------------------------


def test_an_eu_workspace_is_purged_in_the_eu(eu_workspace, workspace, system_actor):
    event_with_operational_data(eu_workspace, "eu-old", NOW - days(200))
    event_with_operational_data(eu_workspace, "eu-new", NOW - days(1))
    event_with_operational_data(workspace, "us-old", NOW - days(200))

    result = purge.retention_purge(workspace=eu_workspace, actor=system_actor, now=NOW)

    assert result.purged["events"] == 1
    assert Event.objects.using("region_eu").filter(workspace=eu_workspace).count() == 1
    assert Event.objects.using("region_us").filter(workspace=eu_workspace).count() == 0
    assert Event.objects.using("region_us").filter(workspace=workspace).count() == 1


def refused(workspace, received_at):
    return RejectedEvent.objects.for_workspace(workspace).create(
        workspace=workspace, received_at=received_at, reason="invalid_type", field="event"
    )


def test_refused_events_the_debugger_shows_go_after_the_events_window(
    workspace, admin_user, system_actor
):
    retention_windows_update(
        workspace=workspace, actor=admin_user, values={"events_retention_days": 7}
    )
    old = [refused(workspace, NOW - days(7) - MINUTE) for _ in range(3)]
    kept = refused(workspace, NOW - days(7) + MINUTE)

    result = purge.retention_purge(workspace=workspace, actor=system_actor, now=NOW, batch_rows=2)

    assert result.purged["rejected"] == 3
    assert data_count(RejectedEvent, workspace=workspace) == 1
    assert data_count(RejectedEvent, pk=kept.pk) == 1
    assert not data_count(RejectedEvent, pk__in=[row.pk for row in old])
    # debugger data is not personal data: alone it makes no audit entry, but it is counted
    assert not result.recorded
    assert retention_overview(workspace=workspace).last_purge_counts["rejected"] == 3


def test_a_moving_workspace_is_left_alone(eu_workspace, system_actor):
    event_with_operational_data(eu_workspace, "old", NOW - days(200))
    Workspace.objects.filter(pk=eu_workspace.pk).update(moving_to="us")
    before = audit_count(eu_workspace)

    result = purge.retention_purge(workspace=eu_workspace, actor=system_actor, now=NOW)

    assert result.skipped and result.batches == 0
    assert Event.objects.using("region_eu").filter(workspace=eu_workspace).count() == 1
    assert audit_count(eu_workspace) == before
    assert retention_overview(workspace=eu_workspace).last_purge_at is None


def test_a_purged_workspace_is_neither_queued_nor_purged(eu_workspace, system_actor, monkeypatch):
    event_with_operational_data(eu_workspace, "old", NOW - days(200))
    Workspace.objects.filter(pk=eu_workspace.pk).update(deleted_at=NOW, purged_at=NOW)
    queued = []
    monkeypatch.setattr(
        tasks.retention_purge_task, "apply_async", lambda **kwargs: queued.append(kwargs)
    )

    tasks.events_purge_expired_all()
    result = purge.retention_purge(workspace=eu_workspace, actor=system_actor, now=NOW)

    assert queued == []
    assert result.skipped and result.batches == 0
    # the tombstone gets no settings row (it keeps only its audit log)
    assert not IngestionSettings.objects.filter(workspace=eu_workspace).exists()


def test_the_hourly_task_purges_each_workspace(eu_workspace, workspace):
    event_with_operational_data(eu_workspace, "old", timezone.now() - days(200))

    tasks.retention_purge_task(eu_workspace.pk)
    tasks.retention_purge_task(10**9)  # deleted since it was queued: nothing to do

    assert Event.objects.using("region_eu").filter(workspace=eu_workspace).count() == 0


# --- The audit log and the last purge ----------------------------------------------------------


def test_the_purge_records_its_counts(workspace, system_actor):
    hook = DestinationFactory(workspace=workspace)
    old = event_with_operational_data(workspace, "old", NOW - days(181))
    delivered(workspace, hook, old, created_at=NOW - days(181), attempts=2)
    event_with_operational_data(workspace, "ops", NOW - days(31))

    result = purge.retention_purge(workspace=workspace, actor=system_actor, now=NOW)

    counts = {"events": 1, "operational": 2, "message_ids": 2, "deliveries": 1, "attempts": 2}
    counts["rejected"] = 0
    assert result.recorded and result.purged == counts
    entry = last_entry(workspace)
    assert entry["event_type"] == "events.operational_data_purged"
    assert entry["payload"]["rows"] == 2
    assert entry["payload"]["purged"] == counts
    assert entry["payload"]["windows"] == {
        "delivery_retention_days": 90,
        "events_retention_days": 180,
        "operational_retention_days": 30,
        "dedup_window_days": 30,
    }
    overview = retention_overview(workspace=workspace)
    assert overview.last_purge_at == NOW
    assert overview.last_purge_counts == counts
    assert overview.pending_counts == {}


def test_a_purge_with_nothing_personal_writes_no_entry_but_is_the_last_purge(
    workspace, system_actor
):
    before = audit_count(workspace)

    result = purge.retention_purge(workspace=workspace, actor=system_actor, now=NOW)

    assert not result.recorded
    assert audit_count(workspace) == before
    overview = retention_overview(workspace=workspace)
    assert overview.last_purge_at == NOW
    assert set(overview.last_purge_counts.values()) == {0}


def test_counts_of_a_run_that_stopped_before_its_entry_go_into_the_next(
    workspace, system_actor, monkeypatch
):
    event_with_operational_data(workspace, "old", NOW - days(200))

    def broken(**kwargs):
        raise RuntimeError("audit log unavailable")

    monkeypatch.setattr(purge, "audit_record", broken)
    with pytest.raises(RuntimeError):
        purge.retention_purge(workspace=workspace, actor=system_actor, now=NOW)
    assert data_count(Event, workspace=workspace) == 0  # the batches were committed
    assert retention_overview(workspace=workspace).pending_counts["events"] == 1
    monkeypatch.undo()

    purge.retention_purge(workspace=workspace, actor=system_actor, now=NOW)

    entry = last_entry(workspace)
    assert entry["payload"]["purged"]["events"] == 1
    assert entry["payload"]["purged"]["operational"] == 1
    assert retention_overview(workspace=workspace).pending_counts == {}


# --- The windows: validation, policy, audit ----------------------------------------------------


def test_admins_change_windows_and_it_is_audited(workspace, admin_user):
    retention_windows_update(
        workspace=workspace,
        actor=admin_user,
        values={"events_retention_days": 365, "delivery_retention_days": 30},
    )

    current = IngestionSettings.objects.get(workspace=workspace)
    assert (current.events_retention_days, current.delivery_retention_days) == (365, 30)
    entry = last_entry(workspace)
    assert entry["event_type"] == "ingestion.settings_updated"
    assert entry["payload"]["changes"] == {
        "events_retention_days": {"before": 180, "after": 365},
        "delivery_retention_days": {"before": 90, "after": 30},
    }


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"events_retention_days": 0}, "events_retention_days"),
        ({"events_retention_days": 3651}, "events_retention_days"),
        ({"events_retention_days": "180"}, "events_retention_days"),
        ({"delivery_retention_days": True}, "delivery_retention_days"),
        ({"delivery_retention_days": 0}, "delivery_retention_days"),
        ({"operational_retention_days": 31}, "operational_retention_days"),
        ({"operational_retention_days": -1}, "operational_retention_days"),
        ({"max_batch_events": 10}, "max_batch_events"),
    ],
)
def test_bad_windows_name_their_field_and_change_nothing(workspace, admin_user, values, field):
    before = audit_count(workspace)
    with pytest.raises(DomainError) as caught:
        retention_windows_update(
            workspace=workspace,
            actor=admin_user,
            values={"events_retention_days": 365, **values},
        )

    assert caught.value.field == field
    assert audit_count(workspace) == before
    assert retention_overview(workspace=workspace).events_days == 180


def test_editors_cannot_change_windows(workspace, editor_user):
    with pytest.raises(PermissionDeniedError):
        retention_windows_update(
            workspace=workspace, actor=editor_user, values={"events_retention_days": 30}
        )


# --- Settings → Ingestion: the windows moved to Privacy → Retention ----------------------------


def test_the_ingestion_settings_page_links_to_retention(client, workspace, admin_user):
    client.force_login(admin_user)

    page = client.get(reverse("destinations:ingestion-settings", args=[workspace.slug]))

    body = page.content.decode()
    assert page.status_code == 200
    assert 'data-testid="retention-settings"' not in body
    assert 'name="events_retention_days"' not in body
    assert f'href="/w/{workspace.slug}/privacy/retention/"' in body


# --- Between batches ---------------------------------------------------------------------------


def test_a_move_that_starts_mid_purge_stops_it_and_its_counts_wait(
    eu_workspace, system_actor, monkeypatch
):
    for i in range(5):
        event_with_operational_data(eu_workspace, f"old-{i}", NOW - days(200))
    real = purge._batch

    def then_a_move_starts(*args, **kwargs):
        counts = real(*args, **kwargs)
        if counts and counts.get("events"):  # the first batch of events is gone
            Workspace.objects.filter(pk=eu_workspace.pk).update(moving_to="us")
        return counts

    monkeypatch.setattr(purge, "_batch", then_a_move_starts)
    before = audit_count(eu_workspace)

    stopped = purge.retention_purge(
        workspace=eu_workspace, actor=system_actor, now=NOW, batch_rows=2
    )

    assert stopped.skipped and stopped.batches == 2  # the deliveries' step, one of events
    assert data_count(Event, workspace=eu_workspace) == 3
    assert audit_count(eu_workspace) == before
    assert retention_overview(workspace=eu_workspace).pending_counts == {
        "events": 2,
        "operational": 2,
    }

    monkeypatch.undo()
    Workspace.objects.filter(pk=eu_workspace.pk).update(moving_to="")
    purge.retention_purge(workspace=eu_workspace, actor=system_actor, now=NOW, batch_rows=2)

    assert data_count(Event, workspace=eu_workspace) == 0
    assert last_entry(eu_workspace)["payload"]["purged"]["events"] == 5


@pytest.mark.django_db(transaction=True)
def test_no_lock_is_held_between_batches(admin_user, system_actor, monkeypatch):
    workspace = WorkspaceFactory(name="Locks", owner=admin_user, region="eu")
    for i in range(5):
        event_with_operational_data(workspace, f"old-{i}", NOW - days(200))
    fresh = event_with_operational_data(workspace, "fresh", NOW)
    real = purge._batch
    free = []

    def lock_from_elsewhere():
        # Another process: the workspace row (a move, a settings change) and a region row.
        try:
            with transaction.atomic(), transaction.atomic(using="region_eu"):
                Workspace.objects.select_for_update(nowait=True).get(pk=workspace.pk)
                IngestionSettings.objects.select_for_update(nowait=True).filter(
                    workspace=workspace
                ).exists()
                Event.objects.for_workspace(workspace).select_for_update(nowait=True).get(
                    pk=fresh.pk
                )
            free.append(True)
        except OperationalError:
            free.append(False)
        finally:
            connections.close_all()

    def and_then_someone_locks(*args, **kwargs):
        counts = real(*args, **kwargs)
        other = threading.Thread(target=lock_from_elsewhere)
        other.start()
        other.join(timeout=30)
        return counts

    monkeypatch.setattr(purge, "_batch", and_then_someone_locks)

    result = purge.retention_purge(workspace=workspace, actor=system_actor, now=NOW, batch_rows=2)

    assert result.purged["events"] == 5
    assert len(free) == result.batches >= 3
    assert all(free)
