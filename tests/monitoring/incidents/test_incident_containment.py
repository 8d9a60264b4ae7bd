"""Containment actions: each really stops what it names (the destination delivers nothing,
the key is refused), is on the incident's timeline and in the audit log beside the
service's own entry; "pause all egress" and "resume those" undo exactly; the advisory lock
lets narrowing actions through and refuses resuming."""

import pytest
from django.utils import timezone

from audit.exceptions import AuditLockedError
from audit.models import AuditPendingEntry
from audit.services import audit_advisory_lock_enable
from destinations import delivery
from destinations.models import Delivery, Destination, DestinationState
from destinations.routing.services import destination_pause, destination_resume
from monitoring.incidents import services
from monitoring.incidents.exceptions import IncidentInvalidError
from monitoring.incidents.models import EventKind, Incident
from tests.audit_entries import audit_entries
from tests.destinations.factories import DestinationFactory
from tests.destinations.helpers import local, order, send_batch
from tracklayer.exceptions import ConflictError, PermissionDeniedError
from workspaces.models import ApiKeyRole

pytestmark = pytest.mark.django_db


def test_pausing_a_destination_stops_its_deliveries(
    client, workspace, editor_user, incident, platforms, make_api_key
):
    hook = DestinationFactory(
        workspace=workspace, type="webhook", config=local("webhook", platforms)
    )
    _key, token = make_api_key(workspace, role=ApiKeyRole.WRITE)

    services.incident_destination_pause(
        workspace=workspace, actor=editor_user, incident=incident, destination_id=hook.public_id
    )
    send_batch(client, token, order("m1"), order("m2"))
    delivery.events_fanout()
    delivery.destination_deliver(destination_id=hook.pk)

    assert platforms.received("webhook") == []
    statuses = Delivery.objects.for_workspace(workspace).values_list("status", flat=True)
    assert set(statuses) == {"pending"}
    hook.refresh_from_db()
    assert hook.state == DestinationState.PAUSED
    assert incident.public_id in hook.paused_reason
    [action] = incident.events.filter(kind=EventKind.CONTAINMENT_ACTION)
    assert action.detail == {"action": "destination_paused", "destinations": [hook.public_id]}
    [paused] = audit_entries(workspace, "destination.paused")
    [contained] = audit_entries(workspace, "incident.containment_action")
    assert paused["resource_id"] == hook.public_id
    assert contained["payload"] == action.detail
    assert paused["actor"] == contained["actor"] == f"user:{editor_user.public_id}"


def test_pausing_refuses_other_workspaces_and_paused_destinations(
    workspace, other_workspace, editor_user, incident, destination
):
    theirs = DestinationFactory(workspace=other_workspace)
    with pytest.raises(IncidentInvalidError) as raised:
        services.incident_destination_pause(
            workspace=workspace,
            actor=editor_user,
            incident=incident,
            destination_id=theirs.public_id,
        )
    assert raised.value.field == "destination"
    services.incident_destination_pause(
        workspace=workspace,
        actor=editor_user,
        incident=incident,
        destination_id=destination.public_id,
    )
    with pytest.raises(ConflictError):
        services.incident_destination_pause(
            workspace=workspace,
            actor=editor_user,
            incident=incident,
            destination_id=destination.public_id,
        )
    theirs.refresh_from_db()
    assert theirs.state == DestinationState.ACTIVE
    assert incident.events.filter(kind=EventKind.CONTAINMENT_ACTION).count() == 1


def test_pause_all_and_resume_those_undo_exactly(workspace, admin_user, editor_user, incident):
    a, b, c = (DestinationFactory(workspace=workspace, name=n) for n in "abc")
    destination_pause(workspace=workspace, actor=admin_user, destination=c, reason="maintenance")

    services.incident_egress_pause(workspace=workspace, actor=editor_user, incident=incident)
    states = dict(Destination.objects.filter(workspace=workspace).values_list("public_id", "state"))
    assert set(states.values()) == {"paused"}
    incident.refresh_from_db()
    assert sorted(incident.paused_destinations) == sorted([a.public_id, b.public_id])
    with pytest.raises(ConflictError):  # nothing left sending
        services.incident_egress_pause(workspace=workspace, actor=editor_user, incident=incident)

    services.incident_egress_resume(workspace=workspace, actor=editor_user, incident=incident)
    states = dict(Destination.objects.filter(workspace=workspace).values_list("public_id", "state"))
    assert states == {a.public_id: "active", b.public_id: "active", c.public_id: "paused"}
    [undone] = incident.events.filter(kind=EventKind.CONTAINMENT_UNDONE)
    assert sorted(undone.detail["destinations"]) == sorted([a.public_id, b.public_id])
    assert len(audit_entries(workspace, "destination.resumed")) == 2
    assert len(audit_entries(workspace, "incident.containment_undone")) == 1
    with pytest.raises(ConflictError):
        services.incident_egress_resume(workspace=workspace, actor=editor_user, incident=incident)


def test_resume_those_skips_what_was_resumed_meanwhile(workspace, editor_user, incident):
    a, b = (DestinationFactory(workspace=workspace, name=n) for n in "ab")
    services.incident_egress_pause(workspace=workspace, actor=editor_user, incident=incident)
    destination_resume(workspace=workspace, actor=editor_user, destination=a)
    services.incident_egress_resume(workspace=workspace, actor=editor_user, incident=incident)
    [undone] = incident.events.filter(kind=EventKind.CONTAINMENT_UNDONE)
    assert undone.detail == {
        "action": "egress_resumed",
        "destinations": [b.public_id],
        "skipped": [a.public_id],
    }


def test_revoking_a_key_refuses_it_at_once(
    api_client, workspace, admin_user, incident, make_api_key, django_capture_on_commit_callbacks
):
    key, token = make_api_key(workspace, role=ApiKeyRole.WRITE)
    track = {"type": "track", "event": "Signed Up", "userId": "u1", "messageId": "r1"}
    assert (
        api_client.post("/v1/track", track, format="json", HTTP_AUTHORIZATION=f"Bearer {token}")
    ).status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        services.incident_api_key_revoke(
            workspace=workspace, actor=admin_user, incident=incident, key=key
        )

    track["messageId"] = "r2"
    refused = api_client.post(
        "/v1/track", track, format="json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert refused.status_code == 401
    [revoked] = audit_entries(workspace, "api_key.revoked")
    assert revoked["resource_id"] == key.public_id
    [action] = incident.events.filter(kind=EventKind.CONTAINMENT_ACTION)
    assert action.detail["action"] == "api_key_revoked"
    assert action.detail["api_key"] == key.public_id
    assert token not in str(action.detail) and token not in str(audit_entries(workspace))


def test_revoking_needs_api_key_manage(workspace, editor_user, incident, make_api_key):
    key, _token = make_api_key(workspace, role=ApiKeyRole.WRITE)
    with pytest.raises(PermissionDeniedError):
        services.incident_api_key_revoke(
            workspace=workspace, actor=editor_user, incident=incident, key=key
        )
    key.refresh_from_db()
    assert key.revoked_at is None
    assert not incident.events.filter(kind=EventKind.CONTAINMENT_ACTION).exists()


def test_viewers_take_no_containment_action(workspace, viewer_user, incident, destination):
    with pytest.raises(PermissionDeniedError):
        services.incident_destination_pause(
            workspace=workspace,
            actor=viewer_user,
            incident=incident,
            destination_id=destination.public_id,
        )
    with pytest.raises(PermissionDeniedError):
        services.incident_egress_pause(workspace=workspace, actor=viewer_user, incident=incident)
    destination.refresh_from_db()
    assert destination.state == DestinationState.ACTIVE


def test_narrowing_actions_work_under_the_advisory_lock_and_resuming_does_not(
    workspace, admin_user, incident, destination, make_api_key
):
    key, _token = make_api_key(workspace, role=ApiKeyRole.WRITE)
    audit_advisory_lock_enable(workspace=workspace, actor=admin_user)

    services.incident_egress_pause(workspace=workspace, actor=admin_user, incident=incident)
    services.incident_api_key_revoke(
        workspace=workspace, actor=admin_user, incident=incident, key=key
    )

    destination.refresh_from_db()
    key.refresh_from_db()
    assert destination.state == DestinationState.PAUSED and key.revoked_at is not None
    queued = AuditPendingEntry.objects.filter(workspace=workspace).order_by("seq")
    assert [row.event_type for row in queued] == [
        "destination.paused",
        "incident.containment_action",
        "api_key.revoked",
        "incident.containment_action",
    ]
    with pytest.raises(AuditLockedError):
        services.incident_egress_resume(workspace=workspace, actor=admin_user, incident=incident)


def test_closed_incidents_take_no_action(workspace, admin_user, incident, destination):
    Incident.objects.filter(pk=incident.pk).update(phase="closed", closed_at=timezone.now())
    with pytest.raises(ConflictError):
        services.incident_destination_pause(
            workspace=workspace,
            actor=admin_user,
            incident=incident,
            destination_id=destination.public_id,
        )
