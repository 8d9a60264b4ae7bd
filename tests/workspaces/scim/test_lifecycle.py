"""Joiner → mover → leaver, end to end over HTTP: the person's access to the dashboard follows
what the identity provider says, their sessions end when they leave, and one workspace's
token can neither see nor touch another's people."""

import pytest
from allauth.usersessions.models import UserSession
from django.test import Client

from audit.models import AuditPendingEntry
from audit.services import audit_advisory_lock_enable
from tests.audit_entries import audit_entries
from tests.factories import MembershipFactory, UserFactory
from tests.workspaces.helpers import sign_in
from tests.workspaces.scim.conftest import assert_scim_error, patch_body, user_body
from workspaces.models import GroupRole, Membership, Role, User

pytestmark = pytest.mark.django_db

GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


def overview(browser, workspace):
    return browser.get(f"/w/{workspace.slug}/")


def test_joiner_mover_leaver_and_returner(scim, scim_token, workspace, other_workspace):
    GroupRole.objects.create(workspace=workspace, group="Engineering", role=Role.EDITOR)
    person = UserFactory(email="leo@corp.example")
    MembershipFactory(workspace=other_workspace, user=person, role=Role.VIEWER)
    browser = Client()  # signed in through allauth: a recorded UserSession
    assert sign_in(browser, person.email).status_code == 302
    assert UserSession.objects.filter(user=person).count() == 1
    other_browser = Client()  # a session allauth did not record
    other_browser.force_login(person)

    # Joiner: the provider creates the person; they can open the workspace as a viewer.
    created = scim.post("Users", user_body(person.email))
    assert created.status_code == 201
    user_id = created.json()["id"]
    assert user_id == person.public_id
    assert overview(browser, workspace).status_code == 200
    assert Membership.objects.get(workspace=workspace, user=person).role == Role.VIEWER

    # Mover: added to a group mapped to editor.
    group = scim.post("Groups", {"schemas": [GROUP], "displayName": "Engineering"}).json()
    scim.patch(
        f"Groups/{group['id']}",
        patch_body({"op": "add", "path": "members", "value": [{"value": user_id}]}),
    )
    assert Membership.objects.get(workspace=workspace, user=person).role == Role.EDITOR

    # Leaver: Entra ID's deactivation, "False" as a string.
    response = scim.patch(
        f"Users/{user_id}", patch_body({"op": "Replace", "path": "active", "value": "False"})
    )
    assert response.status_code == 200
    assert response.json()["active"] is False
    assert not Membership.objects.filter(workspace=workspace, user=person).exists()
    assert Membership.objects.filter(workspace=other_workspace, user=person).exists()
    assert not UserSession.objects.filter(user=person).exists()
    for session in (browser, other_browser):
        refused = overview(session, workspace)
        assert refused.status_code == 302 and "/accounts/login/" in refused["Location"]
    # The record stays readable, deactivated, as the providers expect.
    assert scim.get(f"Users/{user_id}").json()["active"] is False
    listed = scim.get("Users", {"filter": "active eq false"}).json()
    assert [r["id"] for r in listed["Resources"]] == [user_id]
    # Signing in again reaches the other workspace, never this one.
    again = Client()
    sign_in(again, person.email)
    assert overview(again, workspace).status_code == 404
    assert overview(again, other_workspace).status_code == 200

    # Returner: Okta's re-activation restores the membership with the role of the groups.
    response = scim.patch(
        f"Users/{user_id}", patch_body({"op": "replace", "value": {"active": True}})
    )
    assert response.json()["active"] is True
    assert Membership.objects.get(workspace=workspace, user=person).role == Role.EDITOR
    assert overview(again, workspace).status_code == 200

    # Deletion: gone again, sessions ended again.
    assert scim.delete(f"Users/{user_id}").status_code == 204
    assert not Membership.objects.filter(workspace=workspace, user=person).exists()
    assert overview(again, workspace).status_code == 302

    entries = [
        e for e in audit_entries(workspace) if e["actor"] == f"scim:{scim_token[0].public_id}"
    ]
    assert [e["event_type"] for e in entries] == [
        "scim.user_created",
        "scim.group_created",
        "scim.group_updated",
        "member.role_changed",
        "scim.user_deactivated",
        "scim.user_reactivated",
        "scim.user_deleted",
    ]
    deactivated = entries[4]["payload"]
    assert deactivated == {"role_removed": "editor", "sessions_ended": 2}
    assert entries[5]["payload"] == {"role": "editor", "membership": "created"}
    assert "leo" not in str(entries)


def test_a_put_with_active_false_is_a_leaver_too(scim, workspace):
    user_id = scim.post("Users", user_body("mia@corp.example")).json()["id"]

    response = scim.put(f"Users/{user_id}", user_body("mia@corp.example", active=False))

    assert response.json()["active"] is False
    assert not Membership.objects.filter(workspace=workspace, user__public_id=user_id).exists()


def test_a_user_created_inactive_is_not_a_member(scim, workspace):
    response = scim.post("Users", user_body("ned@corp.example", active="False"))

    assert response.json()["active"] is False
    assert not Membership.objects.filter(workspace=workspace, user__public_id=response.json()["id"])


def test_one_workspaces_token_cannot_see_or_touch_anothers_people(
    scim, other_scim, workspace, other_workspace
):
    mine = scim.post("Users", user_body("ola@corp.example")).json()
    group = scim.post("Groups", {"schemas": [GROUP], "displayName": "Engineering"}).json()

    assert other_scim.get("Users").json()["totalResults"] == 0
    found = other_scim.get("Users", {"filter": 'userName eq "ola@corp.example"'}).json()
    assert found["totalResults"] == 0
    assert other_scim.get("Groups").json()["totalResults"] == 0
    assert_scim_error(other_scim.get(f"Users/{mine['id']}"), 404)
    assert_scim_error(other_scim.put(f"Users/{mine['id']}", user_body("x@evil.example")), 404)
    assert_scim_error(
        other_scim.patch(
            f"Users/{mine['id']}", patch_body({"op": "replace", "value": {"active": False}})
        ),
        404,
    )
    assert_scim_error(other_scim.delete(f"Users/{mine['id']}"), 404)
    assert_scim_error(other_scim.get(f"Groups/{group['id']}"), 404)
    assert_scim_error(other_scim.delete(f"Groups/{group['id']}"), 404)
    # Another workspace's group cannot take this workspace's user as a member.
    theirs = other_scim.post("Groups", {"schemas": [GROUP], "displayName": "Eng"}).json()
    add = other_scim.patch(
        f"Groups/{theirs['id']}",
        patch_body({"op": "add", "path": "members", "value": [{"value": mine["id"]}]}),
    )
    assert_scim_error(add, 400, "invalidValue")
    # The workspace comes from the token, never from the body.
    other_scim.post("Users", user_body("pat@corp.example", workspace=workspace.slug))
    assert not Membership.objects.filter(workspace=workspace, user__email="pat@corp.example")
    assert Membership.objects.filter(workspace=other_workspace, user__email="pat@corp.example")
    assert scim.get(f"Users/{mine['id']}").json()["active"] is True


def test_under_the_audit_logs_advisory_lock_a_joiner_is_refused_and_nothing_changes(
    scim, workspace, admin_user
):
    audit_advisory_lock_enable(workspace=workspace, actor=admin_user)

    joiner = scim.post("Users", user_body("ray@corp.example"))

    assert_scim_error(joiner, 403)
    assert not Membership.objects.filter(workspace=workspace, user__email="ray@corp.example")
    assert not User.objects.filter(email="ray@corp.example").exists()


def test_under_the_audit_logs_advisory_lock_a_leaver_still_loses_access(
    scim, workspace, admin_user
):
    user_id = scim.post("Users", user_body("ria@corp.example")).json()["id"]
    audit_advisory_lock_enable(workspace=workspace, actor=admin_user)

    leaver = scim.patch(
        f"Users/{user_id}", patch_body({"op": "replace", "path": "active", "value": False})
    )

    # Losing access only narrows it: done at once, its entry queued until the lock lifts.
    assert leaver.status_code == 200 and leaver.json()["active"] is False
    assert not Membership.objects.filter(workspace=workspace, user__email="ria@corp.example")
    pending = AuditPendingEntry.objects.get(workspace=workspace)
    assert pending.event_type == "scim.user_deactivated"
    # A returner widens access again: refused while locked.
    assert_scim_error(
        scim.patch(
            f"Users/{user_id}", patch_body({"op": "replace", "path": "active", "value": True})
        ),
        403,
    )
