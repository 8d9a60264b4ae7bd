"""Phases: one step forward at a time, back with a note, the time in each phase and the
1-hour containment target; closing needs the complete post-mortem."""

from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring.incidents import selectors, services
from monitoring.incidents.exceptions import IncidentInvalidError
from monitoring.incidents.models import Incident, Phase
from tests.audit_entries import audit_entries
from tracklayer.exceptions import ConflictError, NotFoundError, PermissionDeniedError

pytestmark = pytest.mark.django_db

POSTMORTEM = {
    "impact": "Two hours of purchases did not reach Meta.",
    "timeline_summary": "Token expired at 09:12; paused 09:20; rotated 09:40.",
    "contributing_factors": "No expiry alert.",
    "corrective_actions": "Alert 7 days before a token expires.",
}


def move(workspace, actor, incident, phase, note=""):
    return services.incident_phase_set(
        workspace=workspace, actor=actor, incident=incident, phase=phase, note=note
    )


def test_phases_move_forward_one_at_a_time_and_set_their_times(workspace, editor_user, incident):
    with pytest.raises(IncidentInvalidError) as raised:
        move(workspace, editor_user, incident, "eradicate")
    assert raised.value.field == "phase"

    contained = move(workspace, editor_user, incident, "contain")
    assert contained.phase == Phase.CONTAIN and contained.contained_at is not None
    with pytest.raises(ConflictError):
        move(workspace, editor_user, incident, "contain")
    move(workspace, editor_user, incident, "eradicate")
    reviewed = move(workspace, editor_user, incident, "review")
    assert reviewed.eradicated_at and reviewed.reviewed_at
    changes = audit_entries(workspace, "incident.phase_changed")
    assert [(c["payload"]["from"], c["payload"]["to"]) for c in changes] == [
        ("detect", "contain"),
        ("contain", "eradicate"),
        ("eradicate", "review"),
    ]
    assert {c["actor"] for c in changes} == {f"user:{editor_user.public_id}"}


def test_moving_back_needs_a_note_and_undoes_the_later_times(workspace, editor_user, incident):
    move(workspace, editor_user, incident, "contain")
    move(workspace, editor_user, incident, "eradicate")
    with pytest.raises(IncidentInvalidError) as raised:
        move(workspace, editor_user, incident, "detect")
    assert raised.value.field == "note"

    back = move(workspace, editor_user, incident, "detect", note="The pause did not hold.")
    assert back.phase == Phase.DETECT
    assert back.contained_at is None and back.eradicated_at is None
    entry = audit_entries(workspace, "incident.phase_changed")[-1]
    assert "hold" not in str(entry)
    assert entry["payload"]["note"]["length"] == len("The pause did not hold.")


def test_containment_target_met_missed_and_remaining(workspace, editor_user, incident):
    now = timezone.now()
    remaining = selectors.containment_target(
        incident, now=incident.opened_at + timedelta(minutes=20)
    )
    assert (remaining.status, remaining.seconds) == ("remaining", 40 * 60)
    late = selectors.containment_target(incident, now=incident.opened_at + timedelta(minutes=61))
    assert late.status == "missed"

    contained = move(workspace, editor_user, incident, "contain")
    assert selectors.containment_target(contained, now=now + timedelta(hours=5)).status == "met"

    Incident.objects.filter(pk=incident.pk).update(opened_at=now - timedelta(minutes=90))
    contained.refresh_from_db()
    slow = selectors.containment_target(contained)
    assert slow.status == "missed" and slow.seconds >= 90 * 60 - 5


def test_time_in_each_phase_comes_from_the_timeline(workspace, editor_user, incident):
    move(workspace, editor_user, incident, "contain")
    move(workspace, editor_user, incident, "detect", note="again")
    move(workspace, editor_user, incident, "contain")
    events = selectors.incident_timeline(incident=incident)
    opened = incident.opened_at
    changes = [e for e in events if e.kind == "phase_changed"]
    for minutes, event in zip((10, 25, 40), changes, strict=True):
        event.at = opened + timedelta(minutes=minutes)
    spent = selectors.phase_durations(incident, timeline=events, now=opened + timedelta(minutes=60))
    assert spent == {"detect": 25 * 60, "contain": 35 * 60, "eradicate": 0, "review": 0}


def to_review(workspace, actor, incident):
    for phase in ("contain", "eradicate", "review"):
        move(workspace, actor, incident, phase)


def test_close_is_refused_until_the_postmortem_is_complete(workspace, editor_user, incident):
    to_review(workspace, editor_user, incident)
    with pytest.raises(IncidentInvalidError) as raised:
        services.incident_close(workspace=workspace, actor=editor_user, incident=incident)
    assert set(raised.value.errors) == set(POSTMORTEM)

    services.incident_postmortem_save(
        workspace=workspace, actor=editor_user, incident=incident, impact=POSTMORTEM["impact"]
    )
    with pytest.raises(IncidentInvalidError) as raised:
        move(workspace, editor_user, incident, "closed")
    assert set(raised.value.errors) == set(POSTMORTEM) - {"impact"}

    services.incident_postmortem_save(
        workspace=workspace, actor=editor_user, incident=incident, **POSTMORTEM
    )
    closed = services.incident_close(workspace=workspace, actor=editor_user, incident=incident)
    assert closed.phase == Phase.CLOSED and closed.closed_at is not None
    [entry] = audit_entries(workspace, "incident.closed")
    assert set(entry["payload"]["postmortem"]) == set(POSTMORTEM)
    assert "Meta" not in str(entry["payload"])
    saved = audit_entries(workspace, "incident.postmortem_saved")
    assert list(saved[0]["payload"]["fields"]) == ["impact"]
    assert sorted(saved[1]["payload"]["fields"]) == sorted(set(POSTMORTEM) - {"impact"})

    with pytest.raises(ConflictError):
        services.incident_postmortem_save(
            workspace=workspace, actor=editor_user, incident=incident, impact="changed"
        )


def test_close_only_from_review_and_reopen_with_a_note(workspace, editor_user, incident):
    services.incident_postmortem_save(
        workspace=workspace, actor=editor_user, incident=incident, **POSTMORTEM
    )
    with pytest.raises(IncidentInvalidError) as raised:
        services.incident_close(workspace=workspace, actor=editor_user, incident=incident)
    assert raised.value.field == "phase"
    to_review(workspace, editor_user, incident)
    services.incident_close(workspace=workspace, actor=editor_user, incident=incident)

    with pytest.raises(IncidentInvalidError):
        move(workspace, editor_user, incident, "review")
    reopened = move(workspace, editor_user, incident, "review", note="It came back.")
    assert reopened.phase == Phase.REVIEW and reopened.closed_at is None
    assert audit_entries(workspace, "incident.reopened")[0]["payload"]["from"] == "closed"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"impact": "x" * 20_001}, "impact"),
        ({"corrective_actions": "\x00"}, "corrective_actions"),
        ({"impact": 5}, "impact"),
        ({"title": "x"}, "title"),
    ],
)
def test_postmortem_refuses_bad_fields(workspace, editor_user, incident, fields, field):
    with pytest.raises(IncidentInvalidError) as raised:
        services.incident_postmortem_save(
            workspace=workspace, actor=editor_user, incident=incident, **fields
        )
    assert raised.value.field == field


def test_viewers_cannot_change_an_incident(workspace, viewer_user, incident):
    with pytest.raises(PermissionDeniedError):
        move(workspace, viewer_user, incident, "contain")
    with pytest.raises(PermissionDeniedError):
        services.incident_note_add(
            workspace=workspace, actor=viewer_user, incident=incident, note="x"
        )
    with pytest.raises(PermissionDeniedError):
        services.incident_postmortem_save(
            workspace=workspace, actor=viewer_user, incident=incident, impact="x"
        )


def test_another_workspaces_incident_is_not_found(other_workspace, other_admin_user, incident):
    with pytest.raises(NotFoundError):
        move(other_workspace, other_admin_user, incident, "contain")
    with pytest.raises(NotFoundError):
        selectors.incident_get(workspace=other_workspace, public_id=incident.public_id)


def test_reopening_is_refused_while_another_incident_covers_its_subject(workspace, editor_user):
    def auto(source_id):
        return services.incident_open_auto(
            workspace=workspace,
            source_kind="anomaly",
            source_id=source_id,
            title="Meta failing",
            severity="high",
            subject="destination:dst_meta",
        )

    first = auto("ano_1")
    services.incident_postmortem_save(
        workspace=workspace, actor=editor_user, incident=first, **POSTMORTEM
    )
    to_review(workspace, editor_user, first)
    services.incident_close(workspace=workspace, actor=editor_user, incident=first)
    second = auto("ano_2")
    assert second.pk != first.pk

    with pytest.raises(ConflictError) as raised:
        move(workspace, editor_user, first, "review", note="It came back.")

    assert second.public_id in raised.value.message
    assert Incident.objects.get(pk=first.pk).phase == Phase.CLOSED
    assert audit_entries(workspace, "incident.reopened") == []
