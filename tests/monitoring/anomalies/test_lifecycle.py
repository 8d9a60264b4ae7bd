"""The run and the lifecycle against the database: figures written by the real writer, the
run opens, updates and resolves anomalies, each transition audited; a high-severity anomaly
and an automatic pause open an incident; people acknowledge and resolve."""

from datetime import timedelta

import pytest

from audit.advisory import QUEUED_WHILE_LOCKED
from audit.exceptions import AuditLockedError
from audit.models import AuditPendingEntry
from audit.services import audit_advisory_lock_enable
from destinations.delivery.autopause import destination_autopause
from monitoring.anomalies import detectors, services
from monitoring.anomalies.models import Anomaly, AnomalyStatus
from monitoring.anomalies.run import anomalies_detect_region
from monitoring.incidents.models import Incident
from tests.audit_entries import audit_entries
from tests.destinations.factories import DestinationFactory
from tests.monitoring.anomalies.conftest import NOW
from tracklayer.exceptions import ConflictError, PermissionDeniedError
from workspaces.models import Workspace
from workspaces.services import workspace_delete

pytestmark = pytest.mark.django_db


@pytest.fixture
def destination(workspace):
    return DestinationFactory(workspace=workspace, name="Meta CAPI", type="meta_capi")


def failing(destination, *minutes, failed=4):
    subject = destination.public_id
    return {m: {("delivery.failed", subject): failed} for m in minutes}


def delivering(destination, *minutes):
    return {m: {("delivery.delivered", destination.public_id): 10} for m in minutes}


def run(workspace, now=NOW):
    return anomalies_detect_region(region=workspace.region, now=now)


def test_a_down_destination_opens_a_high_anomaly_an_incident_and_an_audit_entry(
    workspace, destination, write_figures
):
    write_figures(workspace, delivering(destination, 5, 4, 3))
    write_figures(workspace, failing(destination, 2, 1))

    report = run(workspace)

    assert (report.opened, report.failed) == (1, [])
    [anomaly] = Anomaly.objects.filter(workspace=workspace)
    assert anomaly.public_id.startswith("anm_")
    assert (anomaly.kind, anomaly.subject, anomaly.severity, anomaly.status) == (
        "destination_down",
        f"destination:{destination.public_id}",
        "high",
        "open",
    )
    [entry] = audit_entries(workspace, "anomaly.opened")
    assert entry["resource_id"] == anomaly.public_id
    assert entry["actor"] == "system:anomalies"
    assert entry["payload"]["figures"]["observed"] == 8
    assert "series" not in entry["payload"]["figures"]
    [incident] = Incident.objects.filter(workspace=workspace)
    assert incident.source_ids == [anomaly.public_id]
    assert incident.subject == anomaly.subject


def test_found_again_it_is_updated_not_duplicated_and_resolves_itself_when_normal(
    workspace, destination, write_figures
):
    write_figures(workspace, failing(destination, 2, 1, 0))
    run(workspace, NOW - timedelta(minutes=1))
    run(workspace, NOW)
    assert Anomaly.objects.filter(workspace=workspace).count() == 1

    # Delivering again: resolved once normal for two minutes, not before.
    later = NOW + timedelta(minutes=1)
    write_figures(workspace, delivering(destination, 0), now=later)
    assert run(workspace, later).resolved == 0
    later = NOW + timedelta(minutes=3)
    write_figures(workspace, delivering(destination, 1, 0), now=later)
    assert run(workspace, later).resolved == 1

    anomaly = Anomaly.objects.get(workspace=workspace)
    assert (anomaly.status, anomaly.resolved_automatically) == ("resolved", True)
    [entry] = audit_entries(workspace, "anomaly.resolved")
    assert entry["payload"]["automatic"] is True
    assert entry["payload"]["duration_seconds"] == 240


def test_an_automatic_pause_is_an_anomaly_and_opens_an_incident_named_by_the_destination(
    workspace, destination
):
    destination_autopause(destination=destination, figures={"failed_requests": 9, "requests": 10})

    run(workspace)

    [anomaly] = Anomaly.objects.filter(workspace=workspace, kind="auto_pause")
    assert anomaly.severity == "high"
    assert "9 of 10 requests failed" in anomaly.summary
    [incident] = Incident.objects.filter(workspace=workspace)
    assert incident.source_kind == "auto_pause"
    assert incident.source_ids == [destination.public_id]


def test_members_with_operations_edit_acknowledge_and_resolve_viewers_may_not(
    workspace, destination, write_figures, editor_user, viewer_user
):
    write_figures(workspace, failing(destination, 2, 1))
    run(workspace)
    anomaly = Anomaly.objects.get(workspace=workspace)

    with pytest.raises(PermissionDeniedError):
        services.anomaly_acknowledge(workspace=workspace, actor=viewer_user, anomaly=anomaly)
    acked = services.anomaly_acknowledge(workspace=workspace, actor=editor_user, anomaly=anomaly)
    assert (acked.status, acked.acknowledged_by) == ("acknowledged", editor_user)
    with pytest.raises(ConflictError):
        services.anomaly_acknowledge(workspace=workspace, actor=editor_user, anomaly=anomaly)

    resolved = services.anomaly_resolve(workspace=workspace, actor=editor_user, anomaly=anomaly)
    assert (resolved.status, resolved.resolved_by, resolved.resolved_automatically) == (
        "resolved",
        editor_user,
        False,
    )
    [ack] = audit_entries(workspace, "anomaly.acknowledged")
    [res] = audit_entries(workspace, "anomaly.resolved")
    assert ack["actor"] == res["actor"] == f"user:{editor_user.public_id}"
    assert res["payload"]["automatic"] is False
    with pytest.raises(ConflictError):
        services.anomaly_resolve(workspace=workspace, actor=editor_user, anomaly=anomaly)


def test_an_anomaly_of_another_workspace_cannot_be_acted_on(
    workspace, other_workspace, destination, write_figures, other_admin_user
):
    write_figures(workspace, failing(destination, 2, 1))
    run(workspace)
    anomaly = Anomaly.objects.get(workspace=workspace)
    with pytest.raises(PermissionDeniedError):
        services.anomaly_resolve(workspace=workspace, actor=other_admin_user, anomaly=anomaly)
    with pytest.raises(Anomaly.DoesNotExist):
        services.anomaly_resolve(workspace=other_workspace, actor=other_admin_user, anomaly=anomaly)
    assert Anomaly.objects.get(pk=anomaly.pk).status == AnomalyStatus.OPEN


def test_detection_goes_on_under_the_advisory_lock_its_entries_queued(
    workspace, destination, write_figures, admin_user
):
    # audit.advisory's own list (no stand-in).
    assert {
        "anomaly.opened",
        "anomaly.acknowledged",
        "anomaly.resolved",
        "schema.drift",
    } <= QUEUED_WHILE_LOCKED
    assert "anomaly.alert_settings_updated" not in QUEUED_WHILE_LOCKED
    audit_advisory_lock_enable(workspace=workspace, actor=admin_user)
    write_figures(workspace, failing(destination, 2, 1))

    report = run(workspace)

    assert (report.opened, report.failed) == (1, [])
    anomaly = Anomaly.objects.get(workspace=workspace)
    services.anomaly_acknowledge(workspace=workspace, actor=admin_user, anomaly=anomaly)
    services.anomaly_resolve(workspace=workspace, actor=admin_user, anomaly=anomaly)
    queued = list(
        AuditPendingEntry.objects.filter(workspace=workspace)
        .order_by("seq")
        .values_list("event_type", flat=True)
    )
    assert [t for t in queued if t.startswith("anomaly.")] == [
        "anomaly.opened",
        "anomaly.acknowledged",
        "anomaly.resolved",
    ]
    # Changing where alerts go is a reconfiguration: refused under the lock.
    with pytest.raises(AuditLockedError):
        services.alert_settings_update(
            workspace=workspace,
            actor=admin_user,
            email_member_ids=[admin_user.pk],
            webhook_url="",
            quiet_minutes=30,
            min_severity="low",
        )


@pytest.mark.parametrize("purged", [False, True], ids=["deleted", "purged"])
def test_a_deleted_or_purged_workspace_is_not_judged(
    workspace, destination, write_figures, admin_user, purged, django_capture_on_commit_callbacks
):
    write_figures(workspace, failing(destination, 2, 1))
    workspace_delete(workspace=workspace, actor=admin_user, confirm_slug=workspace.slug)
    if purged:  # the tombstone keeps deleted_at; its slug is freed
        Workspace.objects.filter(pk=workspace.pk).update(purged_at=NOW, slug=None)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        report = run(workspace)

    assert (report.workspaces, report.opened) == (0, 0)
    assert not Anomaly.objects.filter(workspace=workspace).exists()
    assert not Incident.objects.filter(workspace=workspace).exists()
    assert callbacks == []  # no alert queued


def test_a_workspace_moving_region_is_not_judged_until_it_has_moved(
    workspace, destination, write_figures
):
    """A move answers 503 and delivers nothing until the switch, on purpose: no anomaly."""
    write_figures(workspace, failing(destination, 2, 1))
    Workspace.objects.filter(pk=workspace.pk).update(
        moving_to="eu" if workspace.region == "us" else "us"
    )

    assert run(workspace).opened == 0

    Workspace.objects.filter(pk=workspace.pk).update(moving_to="")
    assert run(workspace).opened == 1


def test_a_workspace_deleted_after_the_run_read_it_gets_nothing(
    workspace, destination, write_figures, admin_user
):
    write_figures(workspace, failing(destination, 2, 1))
    finding = detectors.Finding(
        kind="destination_down",
        subject=f"destination:{destination.public_id}",
        severity="high",
        summary="Down.",
        evidence={"observed": 8},
    )
    workspace_delete(workspace=workspace, actor=admin_user, confirm_slug=workspace.slug)

    counts = services.anomalies_apply(workspace=workspace, findings=[finding], now=NOW)

    assert counts == {"opened": 0, "updated": 0, "resolved": 0}
    assert not Anomaly.objects.filter(workspace=workspace).exists()
    assert not Incident.objects.filter(workspace=workspace).exists()


def test_a_new_event_name_is_drift_audited_as_schema_drift_once_names_are_learnt(
    workspace, write_figures
):
    write_figures(workspace, {3: {("events.accepted", "Order Completed"): 5}})
    run(workspace)  # learning: no drift
    assert not Anomaly.objects.filter(workspace=workspace).exists()

    tomorrow = NOW + timedelta(days=1, minutes=5)
    write_figures(
        workspace,
        {1: {("events.accepted", "Order Completed"): 5, ("events.accepted", "Refund Issued"): 2}},
        now=tomorrow,
    )
    run(workspace, tomorrow)

    [drift] = Anomaly.objects.filter(workspace=workspace, kind="schema_drift")
    assert drift.subject == "event:Refund Issued"
    [entry] = audit_entries(workspace, "schema.drift")
    assert entry["payload"] == {"event": "Refund Issued", "change": "new_event", "count": 2}
    assert entry["resource_id"] == "event:Refund Issued"
    # Seen again, it is not drift again.
    run(workspace, tomorrow + timedelta(minutes=1))
    assert len(audit_entries(workspace, "schema.drift")) == 1


def test_decimal_figures_are_audited_as_strings(workspace):
    finding = detectors.Finding(
        kind="delivery_error_rate",
        subject="destination:dst_a",
        severity="medium",
        summary="40 % of requests to dst_a failed.",
        evidence={"observed": 0.4, "baseline": {"rate": 0.0125}, "series": [[1, 0, 0, 0]]},
    )
    services.anomalies_apply(workspace=workspace, findings=[finding], now=NOW)
    [entry] = audit_entries(workspace, "anomaly.opened")
    assert entry["payload"]["figures"] == {"observed": "0.4", "baseline": {"rate": "0.0125"}}
