"""The incident pages: everyone reads, editors and admins act, revoking a key is for admins;
refusals come back on their field (422); another workspace's incident is a 404."""

import pytest
from django.urls import reverse

from destinations.models import Destination, DestinationState
from monitoring.incidents.models import Incident, Phase
from tests.audit_entries import audit_entries
from tests.destinations.factories import DestinationFactory
from workspaces.models import ApiKeyRole

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def url(name, workspace, *args):
    return reverse(f"incidents:{name}", args=[workspace.slug, *args])


def test_viewers_read_the_list_and_the_page_without_actions(
    client, workspace, viewer_user, incident
):
    client.force_login(viewer_user)
    listing = client.get(url("list", workspace))
    assert listing.status_code == 200
    page = listing.content.decode()
    assert incident.public_id in page and 'data-testid="incident-open-form"' not in page
    detail = client.get(url("detail", workspace, incident.public_id)).content.decode()
    assert "Orders not reaching Meta" in detail
    assert 'data-testid="phase-actions"' not in detail and 'data-testid="containment"' not in detail


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("phase", {"phase": "contain"}),
        ("note", {"note": "x"}),
        ("postmortem", {"impact": "x"}),
        ("pause-all", {}),
        ("resume", {}),
        ("revoke-key", {"key": "key_x"}),
    ],
)
def test_viewers_are_refused_every_action(client, workspace, viewer_user, incident, name, data):
    client.force_login(viewer_user)
    assert client.post(url(name, workspace, incident.public_id), data).status_code == 403
    assert client.post(url("open", workspace), {"title": "t", "severity": "low"}).status_code == 403
    assert Incident.objects.get().phase == Phase.DETECT
    assert incident.events.count() == 1


def test_open_by_hand_and_its_field_errors(
    client, workspace, editor_user, destination, other_workspace
):
    client.force_login(editor_user)
    refused = client.post(
        url("open", workspace),
        {"title": "", "severity": "urgent", "destination": "dst_nope"},
        **HTMX,
    )
    assert refused.status_code == 422
    body = refused.content.decode()
    assert body.count('class="error"') == 3 and not Incident.objects.exists()

    opened = client.post(
        url("open", workspace),
        {"title": "Meta rejects", "severity": "high", "destination": destination.public_id},
    )
    incident = Incident.objects.get()
    assert opened.status_code == 302
    assert opened["Location"] == url("detail", workspace, incident.public_id)
    with_htmx = client.post(url("open", workspace), {"title": "Again", "severity": "low"}, **HTMX)
    second = Incident.objects.exclude(pk=incident.pk).get()
    assert with_htmx["HX-Redirect"] == url("detail", workspace, second.public_id)
    assert incident.subject == f"destination:{destination.public_id}"


def test_an_incident_may_concern_a_paused_destination(client, workspace, editor_user, destination):
    Destination.objects.filter(pk=destination.pk).update(state=DestinationState.PAUSED)
    client.force_login(editor_user)

    page = client.get(url("list", workspace))
    opened = client.post(
        url("open", workspace),
        {"title": "Meta paused itself", "severity": "high", "destination": destination.public_id},
    )

    assert destination.public_id in page.content.decode()
    assert opened.status_code == 302
    assert Incident.objects.get().subject == f"destination:{destination.public_id}"


def test_phase_buttons_and_containment_with_htmx(
    client, workspace, editor_user, incident, destination
):
    client.force_login(editor_user)
    paused = client.post(
        url("pause", workspace, incident.public_id), {"destination": destination.public_id}, **HTMX
    )
    assert paused.status_code == 200
    assert 'id="incident"' in paused.content.decode() and "<html" not in paused.content.decode()
    destination.refresh_from_db()
    assert destination.state == DestinationState.PAUSED

    moved = client.post(url("phase", workspace, incident.public_id), {"phase": "contain"}, **HTMX)
    assert 'data-target="met"' in moved.content.decode()
    skipped = client.post(url("phase", workspace, incident.public_id), {"phase": "review"}, **HTMX)
    assert skipped.status_code == 422
    back = client.post(url("phase", workspace, incident.public_id), {"phase": "detect"}, **HTMX)
    assert back.status_code == 422 and "Say why" in back.content.decode()
    assert Incident.objects.get().phase == Phase.CONTAIN


def test_close_is_refused_with_field_errors_until_the_postmortem_is_complete(
    client, workspace, editor_user, incident
):
    client.force_login(editor_user)
    for phase in ("contain", "eradicate", "review"):
        client.post(url("phase", workspace, incident.public_id), {"phase": phase})
    partial = {"impact": "Orders missing for 2 h.", "close": "1"}
    refused = client.post(url("postmortem", workspace, incident.public_id), partial, **HTMX)
    assert refused.status_code == 422
    body = refused.content.decode()
    assert body.count("Required to close the incident.") == 3
    assert "Orders missing for 2 h." in body  # what was typed is kept (and saved)
    assert Incident.objects.get().phase == Phase.REVIEW

    complete = {
        "impact": "Orders missing for 2 h.",
        "timeline_summary": "09:12 expired, 09:20 paused.",
        "contributing_factors": "No expiry alert.",
        "corrective_actions": "Alert before expiry.",
        "close": "1",
    }
    closed = client.post(url("postmortem", workspace, incident.public_id), complete)
    assert closed.status_code == 302
    assert Incident.objects.get().phase == Phase.CLOSED
    assert len(audit_entries(workspace, "incident.closed")) == 1


def test_closing_from_the_phase_button_names_the_missing_fields(
    client, workspace, editor_user, incident
):
    client.force_login(editor_user)
    for phase in ("contain", "eradicate", "review"):
        client.post(url("phase", workspace, incident.public_id), {"phase": phase})
    refused = client.post(url("phase", workspace, incident.public_id), {"phase": "closed"}, **HTMX)
    assert refused.status_code == 422
    assert refused.content.decode().count("Required to close the incident.") == 4


def test_pause_all_and_resume_those_from_the_page(
    client, workspace, editor_user, incident, destination
):
    client.force_login(editor_user)
    client.post(url("pause-all", workspace, incident.public_id))
    destination.refresh_from_db()
    assert destination.state == DestinationState.PAUSED
    page = client.get(url("detail", workspace, incident.public_id)).content.decode()
    assert 'data-testid="resume-paused"' in page
    again = client.post(url("pause-all", workspace, incident.public_id), **HTMX)
    assert again.status_code == 409 and "nothing to pause" in again.content.decode()
    client.post(url("resume", workspace, incident.public_id))
    destination.refresh_from_db()
    assert destination.state == DestinationState.ACTIVE


def test_revoking_a_key_is_for_admins(
    client, workspace, editor_user, admin_user, incident, make_api_key
):
    key, _token = make_api_key(workspace, role=ApiKeyRole.WRITE)
    client.force_login(editor_user)
    editor_page = client.get(url("detail", workspace, incident.public_id)).content.decode()
    assert 'data-testid="revoke-form"' not in editor_page
    assert (
        client.post(
            url("revoke-key", workspace, incident.public_id), {"key": key.public_id}
        ).status_code
        == 403
    )

    client.force_login(admin_user)
    client.post(url("revoke-key", workspace, incident.public_id), {"key": key.public_id})
    key.refresh_from_db()
    assert key.revoked_at is not None
    again = client.post(
        url("revoke-key", workspace, incident.public_id), {"key": key.public_id}, **HTMX
    )
    assert again.status_code == 422  # no longer among the live keys


def test_hostile_input_is_refused_on_its_field(
    client, workspace, editor_user, incident, other_workspace
):
    theirs = DestinationFactory(workspace=other_workspace)
    client.force_login(editor_user)
    pause = client.post(
        url("pause", workspace, incident.public_id), {"destination": theirs.public_id}, **HTMX
    )
    assert pause.status_code == 422
    theirs.refresh_from_db()
    assert theirs.state == DestinationState.ACTIVE
    note = client.post(url("note", workspace, incident.public_id), {"note": "a\x00b"}, **HTMX)
    assert note.status_code == 400  # a NUL byte: the project's middleware refuses the request
    phase = client.post(url("phase", workspace, incident.public_id), {"phase": "x" * 17}, **HTMX)
    assert phase.status_code == 422
    long_title = client.post(
        url("open", workspace), {"title": "x" * 201, "severity": "low"}, **HTMX
    )
    assert long_title.status_code == 422
    assert incident.events.count() == 1


def test_another_workspaces_incident_is_404_on_every_url(
    client, workspace, other_workspace, other_admin_user, incident
):
    client.force_login(other_admin_user)
    # Their own workspace's URLs with our incident's id.
    other = other_workspace
    for name in ("detail", "export"):
        assert client.get(url(name, other, incident.public_id)).status_code == 404
    for name in ("phase", "note", "postmortem", "pause", "pause-all", "resume", "revoke-key"):
        assert (
            client.post(url(name, other, incident.public_id), {"phase": "contain"}).status_code
            == 404
        )
    # And our workspace's URLs, where they are no member.
    assert client.get(url("list", workspace)).status_code == 404
    assert client.get(url("detail", workspace, incident.public_id)).status_code == 404


def test_export_downloads_json(client, workspace, viewer_user, incident):
    client.force_login(viewer_user)
    response = client.get(url("export", workspace, incident.public_id))
    assert response["Content-Type"] == "application/json"
    assert f'filename="{incident.public_id}.json"' in response["Content-Disposition"]
    assert response.json()["incident"]["id"] == incident.public_id
