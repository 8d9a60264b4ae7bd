"""The Django admin's "Move to another region…": staff with the change permission get a
confirmation page (target region, rows to move, the slug typed out); confirmed, the move starts
as that staff user (audited) and its task is sent by name to a worker."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from tests.audit_entries import audit_entries
from tests.factories import UserFactory
from workspaces.models import RegionMove, RegionMoveState

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:workspaces_workspace_changelist"


@pytest.fixture
def sent(monkeypatch):
    """The tasks the admin sends (name, args), instead of a broker."""
    calls = []
    monkeypatch.setattr(
        "celery.current_app.send_task", lambda name, args=(), **kw: calls.append((name, args))
    )
    return calls


def act(client, workspace, **fields):
    return client.post(
        reverse(CHANGELIST),
        {"action": "move_region", "_selected_action": [workspace.pk], **fields},
    )


def test_staff_confirm_on_an_intermediate_page_and_the_move_starts(
    client, staff, workspace, sent, django_capture_on_commit_callbacks
):
    client.force_login(staff)

    page = act(client, workspace)

    assert page.status_code == 200
    html = page.content.decode()
    assert "Move Acme to another region" in html
    assert "destinations_event" in html and 'name="slug"' in html
    assert '<option value="eu">' in html and '<option value="us">' not in html
    assert not RegionMove.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        done = act(client, workspace, confirm="yes", target="eu", slug=workspace.slug)

    assert done.status_code == 302
    move = RegionMove.objects.get(workspace=workspace)
    assert (move.source, move.target, move.state) == ("us", "eu", RegionMoveState.COPYING)
    assert move.requested_by == f"user:{staff.public_id}"
    workspace.refresh_from_db()
    assert (workspace.region, workspace.moving_to) == ("us", "eu")
    assert sent == [("destinations.tasks.region_move_run", [move.public_id])]
    started = audit_entries(workspace, "workspace.region_move_started")[-1]
    assert started["actor"] == f"user:{staff.public_id}"
    assert started["payload"] == {"move": move.public_id, "source": "us", "target": "eu"}


def test_a_wrong_slug_shows_the_page_again_and_starts_nothing(client, staff, workspace, sent):
    client.force_login(staff)

    page = act(client, workspace, confirm="yes", target="eu", slug="acme-typo")

    assert page.status_code == 200
    assert f"Type {workspace.slug} to confirm." in page.content.decode()
    assert not RegionMove.objects.exists() and sent == []


def test_staff_without_the_change_permission_have_no_such_action(client, workspace, sent):
    clerk = UserFactory(is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_workspace"))
    client.force_login(clerk)

    page = client.get(reverse(CHANGELIST))
    assert page.status_code == 200
    assert "move_region" not in page.content.decode()
    act(client, workspace, confirm="yes", target="eu", slug=workspace.slug)
    assert not RegionMove.objects.exists() and sent == []


def test_region_moves_are_listed_read_only(client, staff, workspace, sent):
    client.force_login(staff)
    act(client, workspace, confirm="yes", target="eu", slug=workspace.slug)
    move = RegionMove.objects.get()

    listing = client.get(reverse("admin:workspaces_regionmove_changelist"))
    assert move.public_id in listing.content.decode()
    detail = client.get(reverse("admin:workspaces_regionmove_change", args=[move.pk]))
    assert detail.status_code == 200 and b'name="_save"' not in detail.content
    assert (
        client.post(reverse("admin:workspaces_regionmove_delete", args=[move.pk])).status_code
        == 403
    )
