"""/Groups: groups map to roles through the workspace's one group → role mapping (GroupRole);
a member's role is the highest of their groups' mapped roles, else the SCIM default role."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.audit_entries import audit_entries, last_entry
from tests.workspaces.scim.conftest import assert_scim_error, patch_body, user_body
from workspaces.models import GroupRole, Membership, Role
from workspaces.scim import services
from workspaces.scim.models import ScimSettings

pytestmark = pytest.mark.django_db

GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


@pytest.fixture
def mapping(workspace):
    GroupRole.objects.create(workspace=workspace, group="Engineering", role=Role.EDITOR)
    GroupRole.objects.create(workspace=workspace, group="IT Admins", role=Role.ADMIN)


def new_user(scim, email) -> str:
    response = scim.post("Users", user_body(email))
    assert response.status_code == 201
    return response.json()["id"]


def new_group(scim, name, members=()) -> dict:
    response = scim.post(
        "Groups",
        {"schemas": [GROUP], "displayName": name, "members": [{"value": m} for m in members]},
    )
    assert response.status_code == 201, response.content
    return response.json()


def role(workspace, user_id):
    membership = Membership.objects.filter(workspace=workspace, user__public_id=user_id).first()
    return membership.role if membership else None


def test_create_a_group_with_members_gives_them_the_mapped_role(scim, workspace, mapping):
    ann = new_user(scim, "ann@corp.example")

    group = new_group(scim, "Engineering", [ann])

    assert group["schemas"] == [GROUP]
    assert group["meta"]["resourceType"] == "Group"
    assert group["meta"]["location"].endswith(f"/scim/v2/Groups/{group['id']}")
    assert [m["value"] for m in group["members"]] == [ann]
    assert role(workspace, ann) == Role.EDITOR
    user = scim.get(f"Users/{ann}").json()
    assert [g["display"] for g in user["groups"]] == ["Engineering"]
    changed = [e for e in audit_entries(workspace) if e["event_type"] == "member.role_changed"]
    assert changed[-1]["payload"] == {
        "role": {"before": "viewer", "after": "editor"},
        "via": "scim",
    }
    assert changed[-1]["actor"].startswith("scim:sct_")


def test_highest_mapped_role_wins_and_removal_falls_back(scim, workspace, mapping):
    ann = new_user(scim, "ann@corp.example")
    eng = new_group(scim, "Engineering", [ann])
    it = new_group(scim, "IT Admins", [ann])
    assert role(workspace, ann) == Role.ADMIN

    response = scim.patch(
        f"Groups/{it['id']}",
        patch_body({"op": "remove", "path": f'members[value eq "{ann}"]'}),
    )

    assert response.status_code == 200, response.content
    assert response.json()["members"] == []
    assert role(workspace, ann) == Role.EDITOR
    scim.delete(f"Groups/{eng['id']}")
    assert role(workspace, ann) == Role.VIEWER
    assert last_entry(workspace)["event_type"] == "member.role_changed"


def test_unmapped_groups_give_the_default_role(scim, workspace, admin_user):
    services.scim_settings_update(workspace=workspace, actor=admin_user, default_role="editor")
    ann = new_user(scim, "ann@corp.example")

    new_group(scim, "Marketing", [ann])

    assert role(workspace, ann) == Role.EDITOR


def test_members_add_remove_and_replace_as_okta_and_entra_send_them(scim, workspace, mapping):
    ann, bob, cat = (new_user(scim, f"{n}@corp.example") for n in ("ann", "bob", "cat"))
    group = new_group(scim, "Engineering")
    path = f"Groups/{group['id']}"

    # Okta: add with a list of {value, display}
    scim.patch(path, patch_body({"op": "add", "path": "members", "value": [
        {"value": ann, "display": "ann@corp.example"}, {"value": bob}]}))  # fmt: skip
    assert {m["value"] for m in scim.get(path).json()["members"]} == {ann, bob}
    # Entra ID: "Remove" capitalised, members as a list of values
    scim.patch(path, patch_body({"op": "Remove", "path": "members", "value": [{"value": ann}]}))
    assert {m["value"] for m in scim.get(path).json()["members"]} == {bob}
    # replace the whole list
    scim.patch(path, patch_body({"op": "replace", "path": "members", "value": [{"value": cat}]}))
    assert {m["value"] for m in scim.get(path).json()["members"]} == {cat}
    assert (role(workspace, ann), role(workspace, bob), role(workspace, cat)) == (
        Role.VIEWER,
        Role.VIEWER,
        Role.EDITOR,
    )
    entry = [e for e in audit_entries(workspace) if e["event_type"] == "scim.group_updated"][-1]
    assert entry["payload"]["members_added"] == [cat]
    assert set(entry["payload"]["members_removed"]) == {bob}


def test_renaming_a_group_remaps_its_members(scim, workspace, mapping):
    ann = new_user(scim, "ann@corp.example")
    group = new_group(scim, "Eng", [ann])
    assert role(workspace, ann) == Role.VIEWER

    # Okta's rename: replace without a path, the id and the new name in the value
    response = scim.patch(
        f"Groups/{group['id']}",
        patch_body({"op": "replace", "value": {"id": group["id"], "displayName": "Engineering"}}),
    )

    assert response.json()["displayName"] == "Engineering"
    assert role(workspace, ann) == Role.EDITOR


def test_put_replaces_name_and_members(scim, workspace, mapping):
    ann, bob = new_user(scim, "ann@corp.example"), new_user(scim, "bob@corp.example")
    group = new_group(scim, "Engineering", [ann])

    response = scim.put(
        f"Groups/{group['id']}",
        {"schemas": [GROUP], "displayName": "IT Admins", "members": [{"value": bob}]},
    )

    assert response.status_code == 200
    assert (role(workspace, ann), role(workspace, bob)) == (Role.VIEWER, Role.ADMIN)


def test_group_filters_and_excluded_members(scim):
    ann = new_user(scim, "ann@corp.example")
    eng = new_group(scim, "Engineering", [ann])
    new_group(scim, "Sales")

    found = scim.get("Groups", {"filter": 'displayName eq "engineering"'}).json()
    assert [g["id"] for g in found["Resources"]] == [eng["id"]]
    assert found["totalResults"] == 1
    by_member = scim.get("Groups", {"filter": f'members[value eq "{ann}"]'}).json()
    assert [g["id"] for g in by_member["Resources"]] == [eng["id"]]
    # Entra ID's lookup: displayName filter, members excluded
    slim = scim.get(
        "Groups", {"filter": 'displayName eq "Sales"', "excludedAttributes": "members"}
    ).json()
    assert "members" not in slim["Resources"][0]
    both = scim.get("Groups", {"filter": 'displayName sw "Eng" or displayName co "ale"'}).json()
    assert both["totalResults"] == 2
    assert_scim_error(scim.get("Groups", {"filter": 'owner eq "x"'}), 400, "invalidFilter")


@pytest.mark.parametrize(
    ("operation", "status", "scim_type"),
    [
        ({"op": "remove", "path": 'members[value eq "usr_nobody"]'}, 400, "noTarget"),
        ({"op": "add", "path": "members", "value": [{"value": "usr_nobody"}]}, 400,
         "invalidValue"),
        ({"op": "add", "path": "members", "value": [{"nope": 1}]}, 400, "invalidValue"),
        ({"op": "add", "path": "members", "value": "x"}, 400, "invalidValue"),
        ({"op": "replace", "path": "owner", "value": "x"}, 400, "invalidPath"),
        ({"op": "remove", "path": "displayName"}, 400, "invalidValue"),
        ({"op": "replace", "path": "id", "value": "scg_x"}, 400, "mutability"),
        ({"op": "add", "path": 'members[value eq "x"]', "value": []}, 400, "invalidPath"),
    ],
)  # fmt: skip
def test_group_patches_that_cannot_apply(scim, operation, status, scim_type):
    group = new_group(scim, "Engineering")

    assert_scim_error(scim.patch(f"Groups/{group['id']}", patch_body(operation)), status, scim_type)


def test_a_group_name_is_unique_in_the_workspace(scim):
    one = new_group(scim, "Engineering")
    two = new_group(scim, "Sales")

    response = scim.post("Groups", {"schemas": [GROUP], "displayName": "engineering"})
    assert_scim_error(response, 409, "uniqueness")
    rename = scim.patch(
        f"Groups/{two['id']}",
        patch_body({"op": "replace", "path": "displayName", "value": "Engineering"}),
    )
    assert_scim_error(rename, 409, "uniqueness")
    assert scim.get(f"Groups/{one['id']}").status_code == 200


def test_hostile_group_bodies(scim):
    assert_scim_error(scim.post("Groups", {"displayName": ""}), 400, "invalidValue")
    assert_scim_error(scim.post("Groups", {"displayName": "x" * 300}), 400, "invalidValue")
    assert_scim_error(scim.post("Groups", {"members": []}), 400, "invalidValue")
    assert_scim_error(scim.post("Groups", "[1]"), 400, "invalidSyntax")


def test_a_group_change_never_demotes_the_last_admin(scim, workspace, admin_user, mapping):
    scim.post("Users", user_body(admin_user.email))
    group = new_group(scim, "IT Admins", [admin_user.public_id])
    everyone = new_group(scim, "Everyone", [admin_user.public_id])  # unmapped

    response = scim.patch(
        f"Groups/{group['id']}", patch_body({"op": "replace", "path": "members", "value": []})
    )

    assert response.status_code == 200
    assert response.json()["members"] == []
    assert role(workspace, admin_user.public_id) == Role.ADMIN
    assert [m["value"] for m in scim.get(f"Groups/{everyone['id']}").json()["members"]] == [
        admin_user.public_id
    ]


def test_delete_a_group(scim, workspace):
    group = new_group(scim, "Engineering")

    assert scim.delete(f"Groups/{group['id']}").status_code == 204
    assert_scim_error(scim.get(f"Groups/{group['id']}"), 404)
    assert last_entry(workspace)["event_type"] == "scim.group_deleted"


def test_a_mapping_change_is_applied_to_provisioned_members_on_sync(
    scim, workspace, admin_user, mapping
):
    ann, bob = new_user(scim, "ann@corp.example"), new_user(scim, "bob@corp.example")
    new_group(scim, "Engineering", [ann])
    scim.post("Users", user_body(admin_user.email))
    new_group(scim, "Founders", [admin_user.public_id])  # unmapped: the owner would be a viewer
    GroupRole.objects.filter(workspace=workspace, group="Engineering").update(role=Role.ADMIN)

    changed = services.scim_roles_sync(workspace=workspace, actor=admin_user)

    assert changed == 2
    assert (role(workspace, ann), role(workspace, bob)) == (Role.ADMIN, Role.VIEWER)
    assert role(workspace, admin_user.public_id) == Role.VIEWER  # ann is an admin now
    entry = last_entry(workspace)
    assert entry["event_type"] == "member.role_changed"
    assert entry["actor"] == f"user:{admin_user.public_id}"


def test_a_sync_never_demotes_the_last_admin(scim, workspace, admin_user):
    scim.post("Users", user_body(admin_user.email))
    new_group(scim, "Founders", [admin_user.public_id])

    assert services.scim_roles_sync(workspace=workspace, actor=admin_user) == 0
    assert role(workspace, admin_user.public_id) == Role.ADMIN


def test_a_new_default_role_applies_at_once(scim, workspace, admin_user, mapping):
    ann, bob = new_user(scim, "ann@corp.example"), new_user(scim, "bob@corp.example")
    new_group(scim, "Engineering", [ann])

    services.scim_settings_update(workspace=workspace, actor=admin_user, default_role="editor")

    assert (role(workspace, ann), role(workspace, bob)) == (Role.EDITOR, Role.EDITOR)
    types = [e["event_type"] for e in audit_entries(workspace)[-2:]]
    assert types == ["scim.settings_updated", "member.role_changed"]


def test_a_group_operation_reads_the_default_role_once(scim, workspace, mapping):
    members = [new_user(scim, f"p{n}@corp.example") for n in range(3)]
    table = ScimSettings._meta.db_table

    with CaptureQueriesContext(connection) as queries:
        group = new_group(scim, "Engineering", members)

    assert [role(workspace, m) for m in members] == [Role.EDITOR] * 3
    assert sum(f'"{table}"' in q["sql"] for q in queries.captured_queries) == 1
    with CaptureQueriesContext(connection) as queries:
        assert scim.delete(f"Groups/{group['id']}").status_code == 204
    assert [role(workspace, m) for m in members] == [Role.VIEWER] * 3
    assert sum(f'"{table}"' in q["sql"] for q in queries.captured_queries) == 1
