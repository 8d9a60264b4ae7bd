"""Opening incidents: automatically (the anomalies' contract, idempotent per subject) and by
hand; each opening audited without what people wrote."""

import pytest

from audit.advisory import QUEUED_WHILE_LOCKED
from audit.models import AuditPendingEntry
from audit.services import audit_advisory_lock_enable
from monitoring.incidents import services
from monitoring.incidents.exceptions import IncidentInvalidError
from monitoring.incidents.models import EventKind, Incident, Phase
from tests.audit_entries import audit_entries
from tests.destinations.factories import DestinationFactory
from tracklayer.exceptions import PermissionDeniedError

pytestmark = pytest.mark.django_db


def open_auto(workspace, source_id="ano_1", subject="destination:dst_a", severity="high", **kw):
    return services.incident_open_auto(
        workspace=workspace,
        source_kind=kw.pop("source_kind", "anomaly"),
        source_id=source_id,
        title=kw.pop("title", "Delivery errors at Meta"),
        severity=severity,
        subject=subject,
    )


def test_auto_open_creates_one_incident_and_audits_it(workspace):
    incident = open_auto(workspace)

    assert incident.public_id.startswith("inc_")
    assert (incident.phase, incident.severity, incident.opened_by) == (
        Phase.DETECT,
        "high",
        "system:incidents",
    )
    assert incident.source_ids == ["ano_1"]
    [entry] = audit_entries(workspace, "incident.opened")
    assert entry["resource_id"] == incident.public_id
    assert entry["payload"]["subject"] == "destination:dst_a"
    assert entry["payload"]["source_ids"] == ["ano_1"]
    assert "Meta" not in str(entry["payload"])  # the title is referred to by its hash
    assert [e.kind for e in incident.events.all()] == [EventKind.OPENED]


def test_auto_open_is_idempotent_and_links_related_sources(workspace):
    first = open_auto(workspace, "ano_1", severity="medium")
    again = open_auto(workspace, "ano_1", severity="medium")
    related = open_auto(workspace, "ano_2", severity="critical", source_kind="anomaly")
    paused = open_auto(workspace, "dst_a", source_kind="auto_pause", severity="high")

    assert first.pk == again.pk == related.pk == paused.pk
    assert Incident.objects.filter(workspace=workspace).count() == 1
    first.refresh_from_db()
    assert first.source_ids == ["ano_1", "ano_2", "dst_a"]
    assert first.severity == "critical"  # raised by the critical anomaly, never lowered
    assert len(audit_entries(workspace, "incident.opened")) == 1
    links = audit_entries(workspace, "incident.source_linked")
    assert [link["payload"]["source_id"] for link in links] == ["ano_2", "dst_a"]
    assert links[0]["payload"]["severity_to"] == "critical"
    assert first.events.filter(kind=EventKind.LINKED_ANOMALY).count() == 2


def test_auto_open_for_other_subjects_and_after_closing_opens_new_ones(workspace, admin_user):
    first = open_auto(workspace, "ano_1", subject="destination:dst_a")
    other = open_auto(workspace, "ano_2", subject="event:Order Completed")
    no_subject = open_auto(workspace, "ano_3", subject="")
    assert len({first.pk, other.pk, no_subject.pk}) == 3

    for phase in ("contain", "eradicate", "review"):
        services.incident_phase_set(
            workspace=workspace, actor=admin_user, incident=first, phase=phase
        )
    services.incident_postmortem_save(
        workspace=workspace,
        actor=admin_user,
        incident=first,
        impact="i",
        timeline_summary="t",
        contributing_factors="c",
        corrective_actions="a",
    )
    services.incident_close(workspace=workspace, actor=admin_user, incident=first)
    again = open_auto(workspace, "ano_4", subject="destination:dst_a")
    assert again.pk != first.pk


def test_auto_open_is_per_workspace(workspace, other_workspace):
    mine = open_auto(workspace)
    theirs = open_auto(other_workspace)
    assert mine.pk != theirs.pk
    assert theirs.workspace == other_workspace


@pytest.mark.parametrize(
    ("field", "changes"),
    [
        ("source_kind", {"source_kind": "manual"}),
        ("source_id", {"source_id": ""}),
        ("severity", {"severity": "urgent"}),
        ("source_id", {"source_id": "x" * 65}),
    ],
)
def test_auto_open_refuses_bad_input_naming_the_field(workspace, field, changes):
    arguments = {
        "source_kind": "anomaly",
        "source_id": "ano_1",
        "title": "t",
        "severity": "high",
        "subject": "",
    }
    with pytest.raises(IncidentInvalidError) as raised:
        services.incident_open_auto(workspace=workspace, **{**arguments, **changes})
    assert raised.value.field == field
    assert not Incident.objects.exists()


def test_auto_open_takes_long_or_odd_titles_and_subjects_cut_to_size(workspace):
    incident = services.incident_open_auto(
        workspace=workspace,
        source_kind="anomaly",
        source_id="ano_1",
        title="\x00" + "t" * 500,
        severity="high",
        subject="event:" + "e" * 500,
    )
    assert incident.title == "t" * 200
    assert incident.subject == "event:" + "e" * 194
    untitled = services.incident_open_auto(
        workspace=workspace, source_kind="auto_pause", source_id="dst_a", title="", severity="high"
    )
    assert untitled.title == "Automatic pause dst_a"


def test_auto_open_works_under_the_advisory_lock(workspace, admin_user):
    audit_advisory_lock_enable(workspace=workspace, actor=admin_user)
    incident = open_auto(workspace)
    linked = open_auto(workspace, "ano_2")
    assert linked.pk == incident.pk
    assert incident.events.count() == 2
    queued = AuditPendingEntry.objects.filter(workspace=workspace).order_by("seq")
    assert [row.event_type for row in queued] == ["incident.opened", "incident.source_linked"]


def test_open_by_hand(workspace, editor_user, destination):
    incident = services.incident_open(
        workspace=workspace,
        actor=editor_user,
        title="Suspicious key use",
        severity="critical",
        destination_id=destination.public_id,
        note="Seen by the on-call.",
    )
    assert incident.source_kind == "manual"
    assert incident.subject == f"destination:{destination.public_id}"
    assert incident.opened_by == f"user:{editor_user.public_id}"
    assert [e.kind for e in incident.events.all()] == [EventKind.OPENED, EventKind.NOTE]
    [note] = audit_entries(workspace, "incident.note_added")
    assert "on-call" not in str(note)
    assert note["payload"]["length"] == len("Seen by the on-call.")


def test_open_by_hand_names_every_refused_field(workspace, editor_user, other_workspace):
    theirs = DestinationFactory(workspace=other_workspace)
    with pytest.raises(IncidentInvalidError) as raised:
        services.incident_open(
            workspace=workspace,
            actor=editor_user,
            title="  ",
            severity="nope",
            destination_id=theirs.public_id,
        )
    assert set(raised.value.errors) == {"title", "severity", "destination"}


def test_viewers_cannot_open(workspace, viewer_user):
    with pytest.raises(PermissionDeniedError):
        services.incident_open(workspace=workspace, actor=viewer_user, title="t", severity="low")


def test_the_advisory_lock_queues_what_incidents_need_under_it():
    # Opening, linking, notes and the narrowing containment actions (with their services'
    # own entries); nothing that widens or rewrites the record.
    assert {
        "incident.opened",
        "incident.source_linked",
        "incident.note_added",
        "incident.containment_action",
        "destination.paused",
        "api_key.revoked",
    } <= QUEUED_WHILE_LOCKED
    for refused in (
        "incident.phase_changed",
        "incident.reopened",
        "incident.postmortem_saved",
        "incident.closed",
        "incident.containment_undone",
        "destination.resumed",
    ):
        assert refused not in QUEUED_WHILE_LOCKED


def test_auto_open_joins_the_incident_another_worker_opened_meanwhile(workspace, monkeypatch):
    # Another worker's incident for the subject commits between our look and our insert: the
    # one-open-per-subject constraint refuses ours, and the source is linked to theirs.
    theirs = open_auto(workspace, "ano_1")
    look = services._open_for_key
    calls = []

    def first_look_misses(**kwargs):
        calls.append(kwargs["key"])
        return None if len(calls) == 1 else look(**kwargs)

    monkeypatch.setattr(services, "_open_for_key", first_look_misses)

    joined = open_auto(workspace, "ano_2")

    assert joined.pk == theirs.pk and len(calls) == 2
    assert Incident.objects.count() == 1
    assert Incident.objects.get().source_ids == ["ano_1", "ano_2"]
    assert len(audit_entries(workspace, "incident.source_linked")) == 1
