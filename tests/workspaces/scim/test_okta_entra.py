"""The request sequences Okta and Entra ID send, as their documentation describes them
(Okta's "SCIM 2.0 protocol reference"; Microsoft's "Tutorial: Develop and plan provisioning for
a SCIM endpoint in Microsoft Entra ID", its request/response examples), replayed in order.

Okta: "Test connection" (GET /Users?startIndex=1&count=2), a lookup by userName before
creating, POST, GET, a full PUT (AIW apps), PATCH replace without a path to deactivate, group
push (POST /Groups, PATCH add members, rename by a path-less replace with id and displayName,
remove by ``members[value eq "…"]``, DELETE).

Entra ID: a lookup by userName, POST with the enterprise extension, a lookup by externalId,
PATCH with capitalised ops (Replace on ``emails[type eq "work"].value`` and
``name.familyName``), disable with ``"active": "False"`` (its legacy string) and false,
DELETE; groups looked up by displayName with ``excludedAttributes=members``, members added
and removed with lists of values, a rename by path, DELETE."""

import pytest

from tests.workspaces.scim.conftest import assert_scim_error
from workspaces.models import GroupRole, Membership, Role

pytestmark = pytest.mark.django_db

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def member(workspace, user_id):
    return Membership.objects.filter(workspace=workspace, user__public_id=user_id).first()


def test_okta_user_and_group_push_sequence(scim, workspace):
    GroupRole.objects.create(workspace=workspace, group="Admins of Acme", role=Role.ADMIN)
    # Test connection
    probe = scim.get("Users", {"startIndex": "1", "count": "2"})
    assert probe.status_code == 200 and probe.json()["totalResults"] == 0
    # Does the user exist?
    lookup = scim.get(
        "Users",
        {"filter": 'userName eq "test.user@okta.local"', "startIndex": "1", "count": "100"},
    )
    assert lookup.json() == {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": 0,
        "startIndex": 1,
        "itemsPerPage": 0,
        "Resources": [],
    }
    # Create
    body = {
        "schemas": [USER],
        "userName": "test.user@okta.local",
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": True, "value": "test.user@okta.local", "type": "work"}],
        "displayName": "Test User",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [],
        "password": "1mz050nq",
        "active": True,
    }
    created = scim.post("Users", body)
    assert created.status_code == 201
    user = created.json()
    assert member(workspace, user["id"]).role == Role.VIEWER
    assert scim.get(f"Users/{user['id']}").json()["externalId"] == "00ujl29u0le5T6Aj10h7"
    # Profile update by PUT (the whole user, active kept true)
    body.update(id=user["id"], name={"givenName": "Another", "familyName": "User"})
    updated = scim.put(f"Users/{user['id']}", body)
    assert updated.status_code == 200 and updated.json()["name"]["givenName"] == "Another"
    # Group push
    group = scim.post("Groups", {"schemas": [GROUP], "displayName": "Test SCIMv2", "members": []})
    assert group.status_code == 201
    group_id = group.json()["id"]
    added = scim.patch(
        f"Groups/{group_id}",
        {
            "schemas": [PATCH_OP],
            "Operations": [
                {
                    "op": "add",
                    "path": "members",
                    "value": [{"value": user["id"], "display": "test.user@okta.local"}],
                }
            ],
        },
    )
    assert added.status_code == 200
    renamed = scim.patch(
        f"Groups/{group_id}",
        {
            "schemas": [PATCH_OP],
            "Operations": [
                {"op": "replace", "value": {"id": group_id, "displayName": "Admins of Acme"}}
            ],
        },
    )
    assert renamed.json()["displayName"] == "Admins of Acme"
    assert member(workspace, user["id"]).role == Role.ADMIN
    removed = scim.patch(
        f"Groups/{group_id}",
        {
            "schemas": [PATCH_OP],
            "Operations": [{"op": "remove", "path": f'members[value eq "{user["id"]}"]'}],
        },
    )
    assert removed.json()["members"] == []
    assert member(workspace, user["id"]).role == Role.VIEWER
    # Deactivate: replace without a path
    deactivated = scim.patch(
        f"Users/{user['id']}",
        {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"active": False}}]},
    )
    assert deactivated.status_code == 200 and deactivated.json()["active"] is False
    assert member(workspace, user["id"]) is None
    assert scim.delete(f"Groups/{group_id}").status_code == 204


def test_entra_id_user_and_group_sequence(scim, workspace):
    GroupRole.objects.create(workspace=workspace, group="Finance Editors", role=Role.EDITOR)
    assert (
        scim.get("Users", {"filter": 'userName eq "Test_User_ab6490ee@testuser.com"'}).json()[
            "totalResults"
        ]
        == 0
    )
    created = scim.post(
        "Users",
        {
            "schemas": [USER, ENTERPRISE],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userName": "Test_User_ab6490ee@testuser.com",
            "active": True,
            "emails": [
                {"primary": True, "type": "work", "value": "Test_User_fd0ea19b@testuser.com"}
            ],
            "meta": {"resourceType": "User"},
            "name": {"formatted": "givenName familyName", "familyName": "familyName",
                     "givenName": "givenName"},
            "roles": [],
            ENTERPRISE: {"department": "Finance", "manager": {"value": "someone"}},
        },
    )  # fmt: skip
    assert created.status_code == 201, created.content
    user = created.json()
    assert user["userName"] == "test_user_ab6490ee@testuser.com"
    by_external = scim.get(
        "Users", {"filter": 'externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"'}
    ).json()
    assert [r["id"] for r in by_external["Resources"]] == [user["id"]]
    patched = scim.patch(
        f"Users/{user['id']}",
        {
            "schemas": [PATCH_OP],
            "Operations": [
                {"op": "Replace", "path": 'emails[type eq "work"].value',
                 "value": "updatedEmail@microsoft.com"},
                {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
            ],
        },
    )  # fmt: skip
    assert patched.status_code == 200, patched.content
    assert patched.json()["name"]["familyName"] == "updatedFamilyName"
    assert patched.json()["emails"][0]["value"] == "updatedemail@microsoft.com"
    # Groups: create, look up without members, add and remove members by lists, rename
    group = scim.post(
        "Groups",
        {"externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159", "displayName": "displayName",
         "meta": {"resourceType": "Group"}, "members": [], "schemas": [GROUP]},
    )  # fmt: skip
    assert group.status_code == 201
    group_id = group.json()["id"]
    lookup = scim.get(
        "Groups", {"excludedAttributes": "members", "filter": 'displayName eq "displayName"'}
    ).json()
    assert [g["id"] for g in lookup["Resources"]] == [group_id]
    assert "members" not in lookup["Resources"][0]
    rename = {"op": "Replace", "path": "displayName", "value": "Finance Editors"}
    add = {"op": "Add", "path": "members", "value": [{"value": user["id"]}]}
    scim.patch(f"Groups/{group_id}", {"schemas": [PATCH_OP], "Operations": [rename, add]})
    assert member(workspace, user["id"]).role == Role.EDITOR
    remove = {"op": "Remove", "path": "members", "value": [{"value": user["id"]}]}
    scim.patch(f"Groups/{group_id}", {"schemas": [PATCH_OP], "Operations": [remove]})
    assert member(workspace, user["id"]).role == Role.VIEWER
    # Disable (the legacy string), enable, disable (a boolean), delete
    for value, active in (("False", False), ("True", True), (False, False)):
        response = scim.patch(
            f"Users/{user['id']}",
            {
                "schemas": [PATCH_OP],
                "Operations": [{"op": "Replace", "path": "active", "value": value}],
            },
        )
        assert response.json()["active"] is active
        assert (member(workspace, user["id"]) is not None) is active
    assert scim.delete(f"Users/{user['id']}").status_code == 204
    assert_scim_error(scim.get(f"Users/{user['id']}"), 404)
    assert scim.delete(f"Groups/{group_id}").status_code == 204
