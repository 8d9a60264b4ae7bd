"""/Users (RFC 7644 §3): create, read, list with filters and pages, replace, patch, delete —
and every hostile body or query answered 4xx in SCIM's error schema."""

import json

import pytest

from tests.audit_entries import audit_entries, last_entry
from tests.factories import MembershipFactory, UserFactory
from tests.workspaces.scim.conftest import assert_scim_error, patch_body, user_body
from workspaces.models import Membership, Role, User

pytestmark = pytest.mark.django_db

USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def create(scim, email, **extra):
    response = scim.post("Users", user_body(email, **extra))
    assert response.status_code == 201, response.content
    return response.json()


def test_create_makes_a_member_with_the_default_role(scim, workspace, scim_token):
    response = scim.post("Users", user_body("ann.lee@corp.example"))

    assert response.status_code == 201
    assert response["Content-Type"].startswith("application/scim+json")
    body = response.json()
    user = User.objects.get(email="ann.lee@corp.example")
    assert body["id"] == user.public_id
    assert response["Location"] == body["meta"]["location"]
    assert body["meta"]["location"].endswith(f"/scim/v2/Users/{user.public_id}")
    assert body["meta"]["resourceType"] == "User"
    assert body["schemas"] == [USER]
    assert body["userName"] == "ann.lee@corp.example"
    assert body["name"]["givenName"] == "Ann" and body["name"]["familyName"] == "Lee"
    assert body["active"] is True and body["groups"] == []
    assert "password" not in body
    assert not user.has_usable_password()
    assert Membership.objects.get(workspace=workspace, user=user).role == Role.VIEWER
    entry = last_entry(workspace)
    assert entry["event_type"] == "scim.user_created"
    assert entry["actor"] == f"scim:{scim_token[0].public_id}"
    assert entry["payload"]["role"] == "viewer"
    assert "corp.example" not in json.dumps(entry) and scim.token not in json.dumps(entry)


def test_create_twice_is_409_uniqueness(scim):
    create(scim, "ann@corp.example")

    response = scim.post("Users", user_body("ANN@corp.example"))

    assert_scim_error(response, 409, "uniqueness")


def test_an_existing_member_keeps_their_role_when_provisioned(scim, workspace, admin_user):
    body = create(scim, admin_user.email)

    assert body["id"] == admin_user.public_id
    assert Membership.objects.get(workspace=workspace, user=admin_user).role == Role.ADMIN


def test_get_and_list_with_pagination(scim):
    ids = [create(scim, f"p{i}@corp.example")["id"] for i in range(5)]

    assert scim.get(f"Users/{ids[0]}").json()["userName"] == "p0@corp.example"
    page = scim.get("Users", {"startIndex": 2, "count": 2}).json()
    assert page["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:ListResponse"]
    assert (page["totalResults"], page["startIndex"], page["itemsPerPage"]) == (5, 2, 2)
    assert [r["id"] for r in page["Resources"]] == ids[1:3]
    empty = scim.get("Users", {"startIndex": 9}).json()
    assert (empty["totalResults"], empty["Resources"]) == (5, [])
    assert scim.get("Users", {"count": 0}).json()["Resources"] == []
    assert scim.get("Users", {"startIndex": 0, "count": 1}).json()["startIndex"] == 1


@pytest.mark.parametrize(
    ("filter_text", "expected"),
    [
        ('userName eq "bob.stone@corp.example"', ["bob"]),
        ('userName eq "BOB.STONE@CORP.EXAMPLE"', ["bob"]),
        ('userName co "stone"', ["bob", "cat"]),
        ('userName sw "cat"', ["cat"]),
        ('userName ew "other.example"', ["dan"]),
        ('name.givenName eq "Bob" and userName co "corp"', ["bob"]),
        ('userName sw "bob" or userName sw "dan"', ["bob", "dan"]),
        ('not (userName co "stone")', ["dan"]),
        ('emails[type eq "work"].value eq "cat.stone@corp.example"', ["cat"]),
        ('emails[type eq "home"].value eq "cat.stone@corp.example"', []),
        ('externalId eq "ext-dan"', ["dan"]),
        ("active eq true", ["bob", "cat", "dan"]),
        ('urn:ietf:params:scim:schemas:core:2.0:User:userName eq "dan@other.example"', ["dan"]),
        ('userName eq "nobody@corp.example"', []),
    ],
)
def test_filters(scim, filter_text, expected):
    ids = {
        "bob": create(scim, "bob.stone@corp.example")["id"],
        "cat": create(scim, "cat.stone@corp.example")["id"],
        "dan": create(scim, "dan@other.example", externalId="ext-dan")["id"],
    }

    response = scim.get("Users", {"filter": filter_text})

    assert response.status_code == 200, response.content
    body = response.json()
    assert [r["id"] for r in body["Resources"]] == [ids[name] for name in expected]
    assert body["totalResults"] == len(expected)


@pytest.mark.parametrize(
    "filter_text",
    [
        "userName eq",
        'userName zz "a"',
        '(userName eq "a"',
        'nickName eq "a"',  # an attribute the server does not store
        'userName eq "a" and nickName eq "b"',  # never silently dropped
        'active eq "yes"',
        'userName gt "a"',
        'urn:example:custom:userName eq "a"',
        "x" * 3000,
    ],
)
def test_an_invalid_filter_is_400_invalid_filter(scim, filter_text):
    create(scim, "a@corp.example")

    assert_scim_error(scim.get("Users", {"filter": filter_text}), 400, "invalidFilter")


@pytest.mark.parametrize("params", [{"count": "ten"}, {"startIndex": "1.5"}])
def test_a_page_that_is_not_a_number_is_400(scim, params):
    assert_scim_error(scim.get("Users", params), 400, "invalidValue")


def test_put_replaces_the_attributes(scim, workspace):
    user = create(scim, "eve@corp.example")

    body = user_body("eve@corp.example", name={"givenName": "Eve", "familyName": "Moss"})
    body.update(displayName="Eve Moss", externalId="new-ext")
    response = scim.put(f"Users/{user['id']}", body)

    assert response.status_code == 200
    got = response.json()
    assert (got["name"]["familyName"], got["displayName"], got["externalId"]) == (
        "Moss",
        "Eve Moss",
        "new-ext",
    )
    assert User.objects.get(public_id=user["id"]).name == "Eve Moss"
    entry = last_entry(workspace)
    assert entry["event_type"] == "scim.user_updated"
    assert set(entry["payload"]["changes"]) == {"externalId", "name.familyName", "displayName"}


def test_put_can_change_the_email_of_an_account_only_this_workspace_has(scim, workspace):
    user = create(scim, "old@corp.example")

    response = scim.put(f"Users/{user['id']}", user_body("new@corp.example"))

    assert response.status_code == 200
    assert User.objects.get(public_id=user["id"]).email == "new@corp.example"


def test_the_email_of_an_account_shared_with_another_workspace_is_not_changed(
    scim, other_workspace
):
    person = UserFactory(email="shared@corp.example")
    MembershipFactory(workspace=other_workspace, user=person)
    create(scim, "shared@corp.example")

    response = scim.put(f"Users/{person.public_id}", user_body("evil@attacker.example"))

    assert_scim_error(response, 400, "mutability")
    person.refresh_from_db()
    assert person.email == "shared@corp.example"


def test_changing_the_email_to_another_accounts_is_409(scim):
    UserFactory(email="taken@corp.example")
    user = create(scim, "mine@corp.example")

    response = scim.put(f"Users/{user['id']}", user_body("taken@corp.example"))
    assert_scim_error(response, 409, "uniqueness")


def test_patch_paths_as_entra_and_okta_send_them(scim):
    user = create(scim, "fay@corp.example")

    response = scim.patch(
        f"Users/{user['id']}",
        patch_body(
            {"op": "Replace", "path": "name.givenName", "value": "Faye"},
            {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "fay@corp.example"},
            {"op": "Add", "path": "displayName", "value": "Faye F."},
            {"op": "Add", "path": "externalId", "value": "entra-oid-1"},
            {
                "op": "Add",
                "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
                "value": "Sales",
            },
        ),
    )

    assert response.status_code == 200, response.content
    got = response.json()
    assert (got["name"]["givenName"], got["displayName"], got["externalId"]) == (
        "Faye",
        "Faye F.",
        "entra-oid-1",
    )
    assert got["emails"] == [{"value": "fay@corp.example", "type": "work", "primary": True}]


def test_patch_adds_a_work_email_where_there_is_none(scim):
    user = create(scim, "gus@corp.example", emails=[{"value": "gus@home.example", "type": "home"}])

    response = scim.patch(
        f"Users/{user['id']}",
        patch_body(
            {"op": "replace", "path": 'emails[type eq "work"].value', "value": "gus@corp.example"}
        ),
    )

    assert response.status_code == 200
    assert {"value": "gus@corp.example", "type": "work"} in response.json()["emails"]


@pytest.mark.parametrize(
    ("operation", "status", "scim_type"),
    [
        ({"op": "replace", "path": "groups", "value": []}, 400, "mutability"),
        ({"op": "replace", "path": "id", "value": "usr_x"}, 400, "mutability"),
        ({"op": "replace", "path": "nickName", "value": "x"}, 400, "invalidPath"),
        ({"op": "replace", "path": "name[[", "value": "x"}, 400, "invalidPath"),
        ({"op": "move", "path": "active", "value": False}, 400, "invalidSyntax"),
        ({"op": "remove"}, 400, "noTarget"),
        ({"op": "remove", "path": "userName"}, 400, "invalidValue"),
        ({"op": "replace", "path": "active", "value": "maybe"}, 400, "invalidValue"),
        ({"op": "replace", "path": "userName", "value": "not-an-email"}, 400, "invalidValue"),
        ({"op": "replace", "value": "not an object"}, 400, "invalidValue"),
        ({"op": "replace", "path": 'emails[type eq].value', "value": "a@b.example"}, 400,
         "invalidFilter"),
    ],
)  # fmt: skip
def test_a_patch_that_cannot_apply_is_refused_and_changes_nothing(
    scim, operation, status, scim_type
):
    user = create(scim, "hal@corp.example")

    response = scim.patch(
        f"Users/{user['id']}",
        patch_body({"op": "replace", "path": "displayName", "value": "Changed"}, operation),
    )

    assert_scim_error(response, status, scim_type)
    assert scim.get(f"Users/{user['id']}").json()["displayName"] == user["displayName"]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "scim_type"),
    [
        ("{not json", None, 400, "invalidSyntax"),
        ("[" * 100_000 + "]" * 100_000, None, 400, "invalidSyntax"),
        ("[]", None, 400, "invalidSyntax"),
        ('"a string"', None, 400, "invalidSyntax"),
        ("userName=a@b.example", "application/x-www-form-urlencoded", 415, None),
        (json.dumps({"userName": "x" * 2_000_000}), None, 413, None),
        (json.dumps({"userName": "a\u0000@corp.example"}), None, 400, "invalidValue"),
        ('{"userName": "\\ud800@corp.example"}', None, 400, "invalidValue"),
        (json.dumps({"userName": 42}), None, 400, "invalidValue"),
        (json.dumps({"userName": "a@corp.example", "name": "Ann"}), None, 400, "invalidValue"),
        (json.dumps({"userName": "a@corp.example", "emails": [{"value": 1}]}), None, 400,
         "invalidValue"),
        (json.dumps({"userName": "a@corp.example", "emails": "a@corp.example"}), None, 400,
         "invalidValue"),
        (json.dumps({"userName": "a@corp.example", "name": {"givenName": "x" * 151}}), None,
         400, "invalidValue"),
        (json.dumps({"userName": "a@corp.example", "active": None, "schemas": "x"}), None,
         400, "invalidSyntax"),
        (json.dumps({"userName": "a@corp.example", "schemas": ["urn:x"]}), None, 400,
         "invalidSyntax"),
    ],
)  # fmt: skip
def test_hostile_bodies_are_4xx_in_the_error_schema(scim, body, content_type, status, scim_type):
    response = scim.post("Users", body, content_type=content_type)

    assert_scim_error(response, status, scim_type)
    assert not User.objects.filter(email__icontains="corp.example").exists()


def test_json_is_accepted_as_well_as_scim_json(scim):
    response = scim.post("Users", user_body("ivy@corp.example"), content_type="application/json")

    assert response.status_code == 201


def test_an_unknown_user_is_404(scim):
    assert_scim_error(scim.get("Users/usr_nope"), 404)
    assert_scim_error(scim.put("Users/usr_nope", user_body("x@corp.example")), 404)
    assert_scim_error(scim.patch("Users/usr_nope", patch_body({"op": "replace"})), 404)
    assert_scim_error(scim.delete("Users/usr_nope"), 404)


def test_attributes_and_excluded_attributes(scim):
    user = create(scim, "jo@corp.example")

    only = scim.get(f"Users/{user['id']}", {"attributes": "userName"}).json()
    assert set(only) == {"schemas", "id", "meta", "userName"}
    without = scim.get("Users", {"excludedAttributes": "groups,emails"}).json()["Resources"][0]
    assert "groups" not in without and "emails" not in without and "userName" in without


def test_delete_removes_the_member_and_the_record(scim, workspace):
    user = create(scim, "kim@corp.example")

    response = scim.delete(f"Users/{user['id']}")

    assert response.status_code == 204
    assert not Membership.objects.filter(workspace=workspace, user__public_id=user["id"]).exists()
    assert_scim_error(scim.get(f"Users/{user['id']}"), 404)
    assert User.objects.filter(public_id=user["id"]).exists()  # the account stays
    entry = last_entry(workspace)
    assert entry["event_type"] == "scim.user_deleted"
    assert entry["payload"]["role_removed"] == "viewer"


def test_the_last_admin_cannot_be_deprovisioned(scim, workspace, admin_user):
    create(scim, admin_user.email)

    response = scim.patch(
        f"Users/{admin_user.public_id}",
        patch_body({"op": "replace", "value": {"active": False}}),
    )

    assert_scim_error(response, 409)
    assert Membership.objects.filter(workspace=workspace, user=admin_user).exists()
    assert scim.get(f"Users/{admin_user.public_id}").json()["active"] is True
    assert not [e for e in audit_entries(workspace) if e["event_type"] == "scim.user_deactivated"]


def test_a_nested_filter_is_answered_and_one_nested_too_deep_is_400(scim):
    user = create(scim, "a@corp.example")
    nested = "(" * 50 + 'userName eq "a@corp.example"' + ")" * 50
    too_deep = "(" * 900 + 'userName eq "a@corp.example"' + ")" * 900

    body = scim.get("Users", {"filter": nested}).json()

    assert [r["id"] for r in body["Resources"]] == [user["id"]]
    assert_scim_error(scim.get("Users", {"filter": too_deep}), 400, "invalidFilter")


def test_a_start_index_beyond_any_database_offset_is_an_empty_page(scim):
    create(scim, "a@corp.example")

    body = scim.get("Users", {"startIndex": str(10**30)}).json()

    assert (body["totalResults"], body["Resources"]) == (1, [])


def test_a_value_filter_in_a_patch_path_nested_too_deep_is_400(scim):
    user = create(scim, "b@corp.example")
    nested = "emails[" + "(" * 50 + 'type eq "work"' + ")" * 50 + "].value"
    too_deep = "emails[" + "(" * 900 + 'type eq "work"' + ")" * 900 + "].value"

    response = scim.patch(
        f"Users/{user['id']}",
        patch_body({"op": "replace", "path": nested, "value": "c@corp.example"}),
    )
    assert response.json()["emails"][0]["value"] == "c@corp.example"
    response = scim.patch(
        f"Users/{user['id']}",
        patch_body({"op": "replace", "path": too_deep, "value": "d@corp.example"}),
    )
    assert_scim_error(response, 400, "invalidFilter")


def test_an_email_filter_finds_the_work_address_the_provider_sent(scim):
    user = create(
        scim,
        "upn.123@corp.onmicrosoft.example",
        emails=[{"value": "Jo.Mail@corp.example", "type": "work", "primary": True}],
    )

    found = scim.get("Users", {"filter": 'emails[type eq "work"].value eq "jo.mail@corp.example"'})
    by_account = scim.get("Users", {"filter": 'emails.value eq "upn.123@corp.onmicrosoft.example"'})

    assert [r["id"] for r in found.json()["Resources"]] == [user["id"]]
    assert [r["id"] for r in by_account.json()["Resources"]] == [user["id"]]


def test_unknown_keys_of_a_path_less_value_are_ignored(scim):
    user = create(scim, "kit@corp.example")

    response = scim.patch(
        f"Users/{user['id']}",
        patch_body(
            {
                "op": "Replace",
                "value": {
                    "name.givenName": "Kit",
                    "not an attribute!": 1,
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "R&D",
                    "active": "True",
                },
            }
        ),
    )

    assert response.status_code == 200
    assert response.json()["name"]["givenName"] == "Kit"
