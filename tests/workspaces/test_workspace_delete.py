"""Deleting a workspace (Settings → Delete workspace) and restoring it (staff): at once nobody
reaches it — members get 404, its API keys 401 (and with them ingestion), its SCIM tokens 401,
its SAML paths 404, its scheduled audit export stops — while another workspace carries on; a
restore brings all of it back. docs/workspace-lifecycle.md."""

import datetime as dt

import orjson
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from audit import export
from audit.services import audit_advisory_lock_enable
from tests.audit_entries import audit_entries, last_entry
from tests.factories import UserFactory
from tests.workspaces.helpers import bearer
from tracklayer.exceptions import ConflictError, DomainError, PermissionDeniedError
from workspaces import services
from workspaces.actors import SystemActor
from workspaces.models import ApiKeyRole, RegionMove, Role, Workspace
from workspaces.scim.services import scim_token_create
from workspaces.sso.services import sp_config_ensure

pytestmark = pytest.mark.django_db

CLI = SystemActor("cli")
TRACK = {"type": "track", "event": "Order Completed", "anonymousId": "anon-1", "messageId": "m-1"}


def delete_url(workspace) -> str:
    return reverse("dashboard:workspace-delete", args=[workspace.slug])


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def ingest(token: str, message_id: str = "m-1"):
    return Client().post(
        "/v1/track",
        orjson.dumps({**TRACK, "messageId": message_id}),
        content_type="application/json",
        **bearer(token),
    )


def scim_users(token: str):
    return Client().get("/scim/v2/Users", **bearer(token))


@pytest.fixture
def access(workspace, other_workspace, admin_user, other_admin_user, make_api_key):
    """For each workspace: its admin's session, a write key and an admin key, a SCIM token."""

    def of(ws, admin):
        return {
            "client": signed_in(admin),
            "write": make_api_key(ws, role=ApiKeyRole.WRITE)[1],
            "admin": make_api_key(ws, role=ApiKeyRole.ADMIN, name="Ops")[1],
            "scim": scim_token_create(workspace=ws, actor=admin, name="Okta")[1],
            "saml": sp_config_ensure(workspace=ws),  # its SP metadata is served
        }

    return of(workspace, admin_user), of(other_workspace, other_admin_user)


def works(ws, handles) -> dict[str, int]:
    """The status every way in answers for ``ws``."""
    return {
        "page": handles["client"].get(f"/w/{ws.slug}/").status_code,
        "settings": handles["client"].get(f"/w/{ws.slug}/settings/").status_code,
        "api": Client().get("/v1/workspace", **bearer(handles["admin"])).status_code,
        "ingest": ingest(handles["write"], f"m-{timezone.now().timestamp()}").status_code,
        "scim": scim_users(handles["scim"]).status_code,
        "saml": Client().get(f"/sso/saml/{ws.slug}/metadata/").status_code,
    }


OPEN = {"page": 200, "settings": 200, "api": 200, "ingest": 200, "scim": 200, "saml": 200}
CLOSED = {"page": 404, "settings": 404, "api": 401, "ingest": 401, "scim": 401, "saml": 404}


def test_deleting_cuts_every_way_in_at_once_and_leaves_the_other_workspace_alone(
    workspace, other_workspace, admin_user, access, django_capture_on_commit_callbacks
):
    mine, theirs = access
    assert works(workspace, mine) == OPEN  # (its keys are in the verification cache now)

    with django_capture_on_commit_callbacks(execute=True):
        response = mine["client"].post(delete_url(workspace), {"confirm_slug": workspace.slug})

    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:home")
    assert works(workspace, mine) == CLOSED
    assert works(other_workspace, theirs) == OPEN
    # The refusal says why, to the holder of the right secret only.
    refused = Client().get("/v1/workspace", **bearer(mine["admin"])).json()
    assert refused["error"]["code"] == "api_key_revoked"
    assert "deleted" in refused["error"]["message"]
    # Gone from the switcher and from ``home``.
    home = mine["client"].get(reverse("dashboard:home"))
    assert home["Location"] == reverse("dashboard:workspace-create")
    page = mine["client"].get(reverse("dashboard:workspace-create"))
    assert workspace.slug not in [w.slug for w in page.context["user_workspaces"]]

    workspace.refresh_from_db()
    assert workspace.purge_after - workspace.deleted_at == dt.timedelta(days=90)
    entry = last_entry(workspace)
    assert entry["event_type"] == "workspace.deleted"
    assert entry["actor"] == f"user:{admin_user.public_id}"
    assert entry["payload"]["counts"] == {"members": 1, "api_keys": 2, "invitations": 0}
    assert entry["payload"]["purge_after"].startswith(f"{workspace.purge_after:%Y-%m-%d}")
    assert audit_entries(other_workspace, "workspace.deleted") == []


def test_a_member_of_both_keeps_the_other(workspace, other_workspace, other_admin_user, access):
    services.member_add(workspace=workspace, actor=CLI, user=other_admin_user, role=Role.VIEWER)
    services.workspace_delete(workspace=workspace, actor=CLI, confirm_slug=workspace.slug)

    client = signed_in(other_admin_user)
    assert client.get(f"/w/{workspace.slug}/").status_code == 404
    assert client.get(f"/w/{other_workspace.slug}/").status_code == 200
    assert client.get(reverse("dashboard:home"))["Location"] == f"/w/{other_workspace.slug}/"


def test_an_invitation_to_a_deleted_workspace_is_refused(workspace, admin_user):
    _invitation, token = services.member_invite(
        workspace=workspace, actor=admin_user, email="new@example.com", role=Role.VIEWER
    )
    services.workspace_delete(workspace=workspace, actor=admin_user, confirm_slug=workspace.slug)

    assert Client().get(f"/invitations/{token}/").status_code == 404


@pytest.mark.parametrize("typed", ["", "acme-typo", "ACME", " globex "])
def test_the_slug_must_be_typed_exactly(workspace, other_workspace, admin_user, typed):
    client = signed_in(admin_user)

    response = client.post(delete_url(workspace), {"confirm_slug": typed})

    assert response.status_code == 422
    assert response.context["delete_form"].errors["confirm_slug"]
    workspace.refresh_from_db()
    assert workspace.deleted_at is None
    assert audit_entries(workspace, "workspace.deleted") == []


@pytest.mark.parametrize(("typed", "status"), [("acme" + "x" * 500, 422), ("acme\x00", 400)])
def test_hostile_confirmation_is_refused_not_a_crash(workspace, admin_user, typed, status):
    client = signed_in(admin_user)

    response = client.post(delete_url(workspace), {"confirm_slug": typed})

    assert response.status_code == status
    workspace.refresh_from_db()
    assert workspace.deleted_at is None


def test_only_admins_delete_and_only_their_own(
    workspace, other_workspace, editor_user, viewer_user, other_admin_user
):
    for user in (editor_user, viewer_user):
        response = signed_in(user).post(delete_url(workspace), {"confirm_slug": workspace.slug})
        assert response.status_code == 403
    response = signed_in(other_admin_user).post(
        delete_url(workspace), {"confirm_slug": workspace.slug}
    )
    assert response.status_code == 404
    with pytest.raises(PermissionDeniedError):
        services.workspace_delete(
            workspace=workspace, actor=editor_user, confirm_slug=workspace.slug
        )
    workspace.refresh_from_db()
    assert workspace.deleted_at is None


def test_the_danger_zone_is_shown_to_admins_only(workspace, admin_user, editor_user):
    admin_page = signed_in(admin_user).get(f"/w/{workspace.slug}/settings/")
    editor_page = signed_in(editor_user).get(f"/w/{workspace.slug}/settings/")

    assert b'data-testid="danger-zone"' in admin_page.content
    assert b'data-testid="danger-zone"' not in editor_page.content


def test_deletion_is_refused_under_the_advisory_lock(workspace, admin_user):
    audit_advisory_lock_enable(workspace=workspace, actor=admin_user)

    response = signed_in(admin_user).post(delete_url(workspace), {"confirm_slug": workspace.slug})

    assert response.status_code == 403
    assert b"advisory lock" in response.content
    workspace.refresh_from_db()
    assert workspace.deleted_at is None


def test_deleting_twice_and_while_moving_are_conflicts(workspace, admin_user):
    Workspace.objects.filter(pk=workspace.pk).update(moving_to="eu")
    with pytest.raises(ConflictError, match="moving"):
        services.workspace_delete(workspace=workspace, actor=admin_user, confirm_slug="acme")
    Workspace.objects.filter(pk=workspace.pk).update(moving_to="")
    services.workspace_delete(workspace=workspace, actor=admin_user, confirm_slug=workspace.slug)
    with pytest.raises(ConflictError, match="deleted already"):
        services.workspace_delete(workspace=workspace, actor=CLI, confirm_slug=workspace.slug)


def test_the_scheduled_audit_export_stops_and_comes_back(workspace, admin_user, settings):
    export.audit_export_config_update(
        workspace=workspace,
        actor=admin_user,
        values={"enabled": True, "target": "directory", "directory": "audit", "prefix": ""},
    )
    task = PeriodicTask.objects.get(name=f"audit-export:{workspace.public_id}")
    assert task.enabled

    services.workspace_delete(workspace=workspace, actor=admin_user, confirm_slug=workspace.slug)
    task.refresh_from_db()
    assert not task.enabled

    services.workspace_restore(workspace=workspace, actor=CLI)
    task.refresh_from_db()
    assert task.enabled


# --- Restore -------------------------------------------------------------------------------------


def test_restore_from_the_cli_brings_everything_back(
    workspace, other_workspace, access, django_capture_on_commit_callbacks
):
    mine, _theirs = access
    assert works(workspace, mine) == OPEN
    with django_capture_on_commit_callbacks(execute=True):
        services.workspace_delete(workspace=workspace, actor=CLI, confirm_slug=workspace.slug)
    assert works(workspace, mine) == CLOSED

    call_command("workspace", "restore", "--workspace", workspace.slug, "--yes")

    assert works(workspace, mine) == OPEN
    workspace.refresh_from_db()
    assert (workspace.deleted_at, workspace.purge_after) == (None, None)
    entry = last_entry(workspace)
    assert entry["event_type"] == "workspace.restored"
    assert entry["actor"] == "system:cli"


def test_the_cli_asks_for_the_slug(workspace, monkeypatch):
    services.workspace_delete(workspace=workspace, actor=CLI, confirm_slug=workspace.slug)
    monkeypatch.setattr("builtins.input", lambda prompt: "not-acme")

    with pytest.raises(CommandError, match="Not confirmed"):
        call_command("workspace", "restore", "--workspace", workspace.slug)

    workspace.refresh_from_db()
    assert workspace.deleted_at is not None
    monkeypatch.setattr("builtins.input", lambda prompt: workspace.slug)
    call_command("workspace", "restore", "--workspace", workspace.slug)
    workspace.refresh_from_db()
    assert workspace.deleted_at is None


def test_restoring_what_is_not_deleted_is_refused(workspace):
    with pytest.raises(CommandError, match="not deleted"):
        call_command("workspace", "restore", "--workspace", workspace.slug, "--yes")
    with pytest.raises(ConflictError):
        services.workspace_restore(workspace=workspace, actor=CLI)


def test_restore_is_for_staff_with_the_permission(workspace, admin_user):
    services.workspace_delete(workspace=workspace, actor=admin_user, confirm_slug=workspace.slug)
    # The workspace's own admin is no staff: a deleted workspace has nobody who could.
    with pytest.raises(PermissionDeniedError):
        services.workspace_restore(workspace=workspace, actor=admin_user)
    plain_staff = UserFactory(is_staff=True)
    with pytest.raises(PermissionDeniedError):
        services.workspace_restore(workspace=workspace, actor=plain_staff)


def test_the_admin_action_restores_as_the_staff_user(workspace, staff):
    services.workspace_delete(workspace=workspace, actor=staff, confirm_slug=workspace.slug)
    client = signed_in(staff)

    response = client.post(
        reverse("admin:workspaces_workspace_changelist"),
        {"action": "restore", "_selected_action": [workspace.pk]},
        follow=True,
    )

    assert response.status_code == 200
    workspace.refresh_from_db()
    assert workspace.deleted_at is None
    assert last_entry(workspace)["event_type"] == "workspace.restored"
    assert last_entry(workspace)["actor"] == f"user:{staff.public_id}"


def test_the_slug_stays_reserved_while_deleted(workspace, admin_user):
    services.workspace_delete(workspace=workspace, actor=admin_user, confirm_slug=workspace.slug)

    with pytest.raises(DomainError):
        services.workspace_create(actor=CLI, name="Acme again", slug=workspace.slug, owner=None)


def test_a_deleted_workspace_is_not_moved_between_regions(workspace, staff):
    services.workspace_delete(workspace=workspace, actor=staff, confirm_slug=workspace.slug)

    response = signed_in(staff).post(
        reverse("admin:workspaces_workspace_changelist"),
        {"action": "move_region", "_selected_action": [workspace.pk]},
        follow=True,
    )

    assert b"a deleted workspace is not moved" in response.content
    with pytest.raises(CommandError, match="No workspace"):
        call_command("workspace", "move-region", "--workspace", "acme", "--to", "eu", "--yes")
    assert not RegionMove.objects.filter(workspace=workspace).exists()
