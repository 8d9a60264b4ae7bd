"""Owner and purpose through the destinations API (the compliance inventory's columns): read
on every answer, written on create and change, an owner who is not a member refused naming
``owner``, and each change in the destination's audit entry."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.audit_entries import last_entry
from tests.destinations.factories import CONFIGS, SECRETS, DestinationFactory
from workspaces.models import ApiKeyRole

pytestmark = pytest.mark.django_db


@pytest.fixture
def call(api_client, workspace, make_api_key):
    token = make_api_key(workspace, role=ApiKeyRole.ADMIN, name="admin key")[1]

    def request(method, path, data=None):
        return getattr(api_client, method)(
            f"/v1/{path}", data, format="json", HTTP_AUTHORIZATION=f"Bearer {token}"
        )

    return request


def _named(response) -> set:
    """The fields a 400 names: the serializer's (``fields``) or the service's (``field``)."""
    error = response.json()["error"]
    return {error.get("field"), *error.get("fields", {})} - {None}


def _new(**extra) -> dict:
    return {
        "type": "meta_capi",
        "name": "Meta — shop",
        "config": CONFIGS["meta_capi"],
        "secrets": SECRETS["meta_capi"],
        **extra,
    }


def test_created_with_an_owner_and_a_purpose_read_back_and_audited(call, workspace, editor_user):
    response = call(
        "post", "destinations", _new(owner=editor_user.public_id, purpose="Ads measurement")
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["owner"] == editor_user.public_id and body["purpose"] == "Ads measurement"
    assert call("get", f"destinations/{body['id']}").json()["owner"] == editor_user.public_id
    entry = last_entry(workspace)
    assert entry["event_type"] == "destination.created"
    assert entry["payload"]["owner"] == editor_user.public_id
    assert entry["payload"]["purpose"] == "Ads measurement"


def test_unset_they_read_null_and_empty(call):
    body = call("post", "destinations", _new()).json()

    assert body["owner"] is None and body["purpose"] == ""


def test_changed_and_cleared_with_the_change_audited(call, workspace, editor_user, admin_user):
    destination = DestinationFactory(workspace=workspace)

    changed = call(
        "patch",
        f"destinations/{destination.public_id}",
        {"owner": admin_user.public_id, "purpose": "Warehouse copy"},
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["owner"] == admin_user.public_id
    entry = last_entry(workspace)
    assert entry["event_type"] == "destination.updated"
    assert entry["payload"]["changes"]["owner"] == {"before": None, "after": admin_user.public_id}

    cleared = call("patch", f"destinations/{destination.public_id}", {"owner": None})
    assert cleared.status_code == 200 and cleared.json()["owner"] is None
    assert cleared.json()["purpose"] == "Warehouse copy"  # not sent, kept
    assert (
        call("patch", f"destinations/{destination.public_id}", {"owner": ""}).json()["owner"]
        is None
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"owner": "usr_nobody000000000000"}, "owner"),
        ({"owner": 7}, "owner"),
        ({"owner": "usr_\x00"}, "owner"),
        ({"purpose": "x" * 501}, "purpose"),
        ({"purpose": ["a"]}, "purpose"),
        ({"purpose": None}, "purpose"),
    ],
)
def test_bad_owner_or_purpose_is_400_naming_the_field(call, workspace, body, field):
    destination = DestinationFactory(workspace=workspace)

    created = call("post", "destinations", _new(**body))
    changed = call("patch", f"destinations/{destination.public_id}", body)

    for response in (created, changed):
        assert response.status_code == 400, response.content
        assert _named(response) == {field}


def test_another_workspaces_member_cannot_own_it(call, workspace, other_admin_user):
    destination = DestinationFactory(workspace=workspace)

    response = call(
        "patch", f"destinations/{destination.public_id}", {"owner": other_admin_user.public_id}
    )

    assert response.status_code == 400
    assert _named(response) == {"owner"} and "member" in response.json()["error"]["message"]
    destination.refresh_from_db()
    assert destination.owner_id is None


def test_the_list_reads_every_owner_in_one_query(call, workspace, admin_user, editor_user):
    for n in range(3):
        DestinationFactory(workspace=workspace, name=f"a{n}", owner=admin_user.public_id)
    DestinationFactory(workspace=workspace, name="b", owner=editor_user.public_id)
    call("get", "destinations")  # the key's first use: its cache and last_used mark
    with CaptureQueriesContext(connection) as few:
        call("get", "destinations")
    for n in range(4):
        DestinationFactory(workspace=workspace, name=f"c{n}", owner=editor_user.public_id)
    with CaptureQueriesContext(connection) as more:
        body = call("get", "destinations").json()

    assert len(more) == len(few)
    owners = {row["name"]: row["owner"] for row in body["data"]}
    assert owners["a0"] == admin_user.public_id and owners["b"] == editor_user.public_id
