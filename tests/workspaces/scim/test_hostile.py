"""Hostile input, systematically: every attribute of a user, a group and a PATCH operation
replaced by each odd value — the answer is a success or a SCIM 4xx, never a 5xx."""

import pytest

from tests.workspaces.scim.conftest import patch_body, user_body

pytestmark = pytest.mark.django_db

ODD_VALUES = [
    None,
    0,
    -1,
    1.5,
    10**400,
    True,
    "",
    " ",
    "\x00",
    "\ud800",
    "x" * 5000,
    [],
    [None],
    [{"value": None}],
    {},
    {"value": {"value": []}},
    "False",
    'a"] or [x',
]
USER_FIELDS = ["userName", "name", "displayName", "emails", "active", "externalId", "schemas"]
GROUP_FIELDS = ["displayName", "members", "externalId", "schemas"]
OP_FIELDS = ["op", "path", "value"]


def assert_not_5xx(response):
    assert response.status_code < 500, response.content
    if response.status_code >= 400:
        body = response.json()
        assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
        assert body["status"] == str(response.status_code)


def test_odd_values_in_every_user_attribute(scim):
    existing = scim.post("Users", user_body("base@corp.example")).json()["id"]
    for i, field in enumerate(USER_FIELDS):
        for j, value in enumerate(ODD_VALUES):
            body = user_body(f"u{i}.{j}@corp.example")
            body[field] = value
            assert_not_5xx(scim.post("Users", body))
            assert_not_5xx(scim.put(f"Users/{existing}", body))


def test_odd_values_in_every_group_attribute(scim):
    existing = scim.post("Groups", {"displayName": "Base"}).json()["id"]
    for i, field in enumerate(GROUP_FIELDS):
        for j, value in enumerate(ODD_VALUES):
            body = {"displayName": f"G{i}.{j}", "members": []}
            body[field] = value
            assert_not_5xx(scim.post("Groups", body))
            assert_not_5xx(scim.put(f"Groups/{existing}", body))


@pytest.mark.parametrize("path", [None, "active", "name.givenName", 'emails[type eq "work"].value',
                                  "members", 'members[value eq "x"]', "displayName"])  # fmt: skip
def test_odd_values_in_every_patch_field(scim, path):
    user = scim.post("Users", user_body("patched@corp.example")).json()["id"]
    group = scim.post("Groups", {"displayName": "Patched"}).json()["id"]
    for field in OP_FIELDS:
        for value in ODD_VALUES:
            operation = {"op": "replace", "value": "x"}
            if path is not None:
                operation["path"] = path
            operation[field] = value
            assert_not_5xx(scim.patch(f"Users/{user}", patch_body(operation)))
            assert_not_5xx(scim.patch(f"Groups/{group}", patch_body(operation)))
    for body in ODD_VALUES:
        assert_not_5xx(scim.patch(f"Users/{user}", {"Operations": body}))
        assert_not_5xx(scim.patch(f"Groups/{group}", {"Operations": [body]}))


@pytest.mark.parametrize(
    "params",
    [
        {"filter": 'userName eq "\u2028\ufeff"'},
        {"filter": 'userName eq "\\"'},
        {"filter": 'meta.created gt "yesterday"'},
        {"filter": 'meta.created gt "2020-01-01T00:00:00Z"'},
        {"filter": 'meta.created gt "2020-01-01T00:00:00"'},
        {"filter": "userName pr"},
        {"filter": 'emails[type eq "work" and value co "@"]'},
        {"filter": 'emails[emails[type eq "a"]]'},
        {"filter": "name pr"},
        {"filter": "userName eq 12"},
        {"filter": "userName eq null"},
        {"filter": "userName co null"},
        {"filter": "active eq 1"},
        {"startIndex": "-5", "count": "-5"},
        {"count": "99999999999999999999999"},
        {"attributes": ",,,", "excludedAttributes": "::"},
    ],
)
def test_odd_queries(scim, params):
    scim.post("Users", user_body("q@corp.example"))

    assert_not_5xx(scim.get("Users", params))
    assert_not_5xx(scim.get("Groups", params))


def test_a_query_that_is_not_utf8(scim):
    for query in ("filter=%ED%A0%80", "filter=userName%20eq%20%22%FF%22", "count=%FF"):
        assert_not_5xx(scim.client.get(f"/scim/v2/Users?{query}", **scim.headers({})))
