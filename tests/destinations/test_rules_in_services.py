"""Rules that used to live in dashboard views, now in services the dashboard and the API share:
replaying every destination's dead letters is one transaction; the tracking plan's mode is
changed by a service of its own, under the plan's lock; the dashboard refuses what the service
refuses instead of cutting it to fit; the delivery log's filters are matched, never cut."""

import pytest

from audit.models import AuditEntry
from destinations.models import Delivery, Destination, TrackingPlan
from destinations.routing import services
from destinations.tracking_plans import services as plans
from tests.audit_entries import last_row
from tests.destinations.factories import DeliveryFactory, DestinationFactory
from tests.destinations.helpers import url
from tests.factories import EventFactory

pytestmark = pytest.mark.django_db

ORDER = {"type": "object", "properties": {"total": {"type": "number"}}, "required": ["total"]}


@pytest.fixture
def two_with_dead_letters(workspace):
    hooks = [DestinationFactory(workspace=workspace, name=name) for name in ("One", "Two")]
    for hook in hooks:
        for _ in range(2):
            DeliveryFactory(destination=hook, status="dead", dead_reason="HTTP 500")
    return hooks


def statuses(destination) -> set[str]:
    return set(
        Delivery.objects.for_workspace(destination.workspace)
        .filter(destination=destination)
        .values_list("status", flat=True)
    )


def test_replaying_every_destination_from_the_page_is_one_service_call(
    signed_in, workspace, two_with_dead_letters
):
    response = signed_in.post(url("dead-letters-replay", workspace), follow=True)

    assert "4 dead letters queued again." in response.content.decode()
    assert all(statuses(hook) == {"pending"} for hook in two_with_dead_letters)
    replays = AuditEntry.objects.filter(workspace=workspace, event_type="delivery.replayed")
    assert replays.count() == 2  # one entry per destination, as before


def test_a_replay_of_every_destination_that_fails_half_way_replays_nothing(
    workspace, admin_user, two_with_dead_letters, monkeypatch
):
    real = services.deliveries_replay
    calls = []

    def second_one_fails(**kwargs):
        calls.append(kwargs["destination"])
        if len(calls) == 2:
            raise RuntimeError("the second destination's replay failed")
        return real(**kwargs)

    monkeypatch.setattr(services, "deliveries_replay", second_one_fails)

    with pytest.raises(RuntimeError):
        services.dead_letters_replay(workspace=workspace, actor=admin_user)

    assert len(calls) == 2
    assert all(statuses(hook) == {"dead"} for hook in two_with_dead_letters)
    assert not AuditEntry.objects.filter(workspace=workspace, event_type="delivery.replayed")


def test_a_deleted_destination_is_not_replayed(workspace, admin_user, two_with_dead_letters):
    gone, kept = two_with_dead_letters
    services.destination_delete(workspace=workspace, actor=admin_user, destination=gone)

    count = services.dead_letters_replay(workspace=workspace, actor=admin_user)

    assert count == 2
    assert statuses(kept) == {"pending"} and statuses(gone) == {"dead"}


def test_a_pause_reason_too_long_is_refused_on_the_page_not_cut(signed_in, workspace):
    destination = DestinationFactory(workspace=workspace, name="Hook")

    response = signed_in.post(
        url("destination-pause", workspace, destination.public_id),
        {"reason": "r" * 301},
        follow=True,
    )

    destination.refresh_from_db()
    assert destination.state == "active"
    assert "Keep the reason to 300 characters." in response.content.decode()
    assert Destination.objects.get(pk=destination.pk).paused_reason == ""


def test_the_delivery_log_matches_a_message_id_exactly_never_a_cut_one(signed_in, workspace):
    hook = DestinationFactory(workspace=workspace)
    event = EventFactory(workspace=workspace, message_id="m" * 100)
    row = url("delivery-detail", workspace, DeliveryFactory(destination=hook, event=event).pk)

    exact = signed_in.get(url("deliveries", workspace), {"message_id": "m" * 100})
    longer = signed_in.get(url("deliveries", workspace), {"message_id": "m" * 101})

    assert row in exact.content.decode()
    assert row not in longer.content.decode()


def test_the_mode_changes_and_the_schemas_stay(workspace, editor_user):
    plans.tracking_plan_update(
        workspace=workspace,
        actor=editor_user,
        mode="allow",
        unplanned="allow",
        schemas={"Order Completed": ORDER},
    )

    plan = plans.tracking_plan_mode_set(
        workspace=workspace, actor=editor_user, mode="block", unplanned="flag", expected_version=1
    )

    assert (plan.mode, plan.unplanned, plan.version) == ("block", "flag", 2)
    assert plan.schemas == {"Order Completed": ORDER}
    entry = last_row(workspace)
    assert entry.event_type == "tracking_plan.updated"


def test_the_mode_of_a_workspace_without_a_plan_starts_an_empty_one(workspace, editor_user):
    plan = plans.tracking_plan_mode_set(
        workspace=workspace, actor=editor_user, mode="flag", unplanned="allow"
    )

    assert (plan.mode, plan.schemas, plan.version) == ("flag", {}, 1)


def test_the_mode_page_goes_through_the_service(signed_in, workspace, admin_user):
    plans.tracking_plan_update(
        workspace=workspace,
        actor=admin_user,
        mode="allow",
        unplanned="allow",
        schemas={"Order Completed": ORDER},
    )

    signed_in.post(
        url("tracking-plan-mode", workspace), {"mode": "block", "unplanned": "allow", "version": 1}
    )

    plan = TrackingPlan.objects.get(workspace=workspace)
    assert (plan.mode, plan.schemas) == ("block", {"Order Completed": ORDER})
