"""The destinations API as an automation uses it: keys by role, secrets write-only and masked,
the delivery log of an event, replay."""

import pytest

from destinations import delivery
from destinations.models import Destination
from destinations.routing import services
from tests.audit_entries import last_row
from tests.destinations.factories import (
    ALL_SECRET_VALUES,
    CONFIGS,
    SECRETS,
    DeliveryAttemptFactory,
    DeliveryFactory,
    DestinationFactory,
)
from tests.factories import EventFactory
from workspaces.models import ApiKeyRole

pytestmark = pytest.mark.django_db


@pytest.fixture
def call(api_client, workspace, make_api_key):
    """``call(method, path, role=…, **body)`` with a key of that role in ``workspace``."""
    tokens = {}

    def request(method, path, *, role=ApiKeyRole.ADMIN, data=None):
        if role not in tokens:
            tokens[role] = make_api_key(workspace, role=role, name=f"{role} key")[1]
        response = getattr(api_client, method)(
            f"/v1/{path}", data, format="json", HTTP_AUTHORIZATION=f"Bearer {tokens[role]}"
        )
        assert [value for value in ALL_SECRET_VALUES if value in response.content.decode()] == []
        return response

    return request


def test_a_destination_is_created_and_its_secret_answered_masked(call, workspace):
    response = call(
        "post",
        "destinations",
        data={
            "type": "meta_capi",
            "name": "Meta — shop",
            "config": CONFIGS["meta_capi"],
            "secrets": SECRETS["meta_capi"],
            "event_filter": ["Order Completed"],
            "autopause": {"error_rate": 0.3},
        },
    )

    assert response.status_code == 201
    body = response.json()
    assert body["id"].startswith("dst_")
    assert body["secrets"] == {"access_token": "••••XYZ1"}
    assert body["event_mapping"]["Order Completed"] == "Purchase"
    assert body["autopause"] == {"error_rate": 0.3, "min_attempts": 20, "window_seconds": 300}
    entry = last_row(workspace)
    assert entry.event_type == "destination.created"
    assert entry.actor.startswith("api_key:")


def test_a_short_secret_is_only_said_to_be_set(call):
    response = call(
        "post",
        "destinations",
        data={
            "type": "ga4_mp",
            "name": "GA4",
            "config": CONFIGS["ga4_mp"],
            "secrets": {"api_secret": "short1"},
        },
    )

    assert response.json()["secrets"] == {"api_secret": "set"}


def test_a_refused_setting_is_answered_with_its_field(call):
    response = call(
        "post",
        "destinations",
        data={
            "type": "webhook",
            "name": "Hook",
            "config": {"url": "ftp://example.test/"},
            "secrets": SECRETS["webhook"],
        },
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_destination"
    assert response.json()["error"]["field"] == "url"


@pytest.mark.parametrize(
    ("role", "read", "write", "operate"),
    [
        (ApiKeyRole.ADMIN, 200, 201, 200),
        (ApiKeyRole.EDITOR, 200, 201, 200),
        (ApiKeyRole.VIEWER, 200, 403, 403),
        (ApiKeyRole.WRITE, 403, 403, 403),
        (ApiKeyRole.AUDIT, 403, 403, 403),
    ],
)
def test_keys_act_by_role(call, workspace, role, read, write, operate):
    destination = DestinationFactory(workspace=workspace)
    body = {
        "type": "webhook",
        "name": "Hook",
        "config": CONFIGS["webhook"],
        "secrets": SECRETS["webhook"],
    }

    assert call("get", "destinations", role=role).status_code == read
    assert call("post", "destinations", role=role, data=body).status_code == write
    assert (
        call("post", f"destinations/{destination.public_id}/pause", role=role).status_code
        == operate
    )


def test_read_lists_and_details_with_health(call, workspace):
    destination = DestinationFactory(workspace=workspace, name="Hook")
    DeliveryAttemptFactory(delivery=DeliveryFactory(destination=destination), latency_ms=90)

    listed = call("get", "destinations", role=ApiKeyRole.VIEWER).json()["data"]
    detail = call("get", f"destinations/{destination.public_id}", role=ApiKeyRole.VIEWER).json()

    assert [d["name"] for d in listed] == ["Hook"]
    assert listed[0]["secrets"] == {"signing_secret": "••••XYZ4"}
    assert detail["health"]["attempts"] == 1
    assert detail["health"]["latency_p95_ms"] == 90
    assert detail["health"]["backlog"] == 1


def test_another_workspaces_destination_is_not_found(call, other_workspace):
    foreign = DestinationFactory(workspace=other_workspace)

    assert call("get", f"destinations/{foreign.public_id}").status_code == 404
    assert call("patch", f"destinations/{foreign.public_id}", data={"name": "x"}).status_code == 404
    assert call("delete", f"destinations/{foreign.public_id}").status_code == 404


def test_patch_changes_only_what_is_sent_and_an_empty_secret_keeps_the_stored_one(call, workspace):
    destination = DestinationFactory(workspace=workspace, type="meta_capi")

    response = call(
        "patch",
        f"destinations/{destination.public_id}",
        role=ApiKeyRole.EDITOR,
        data={
            "config": {"test_event_code": "TEST9"},
            "secrets": {"access_token": ""},
            "max_concurrency": 2,
        },
    )

    destination.refresh_from_db()
    assert response.status_code == 200
    assert response.json()["config"] == {**CONFIGS["meta_capi"], "test_event_code": "TEST9"}
    assert destination.max_concurrency == 2
    assert services.destination_secrets(destination) == SECRETS["meta_capi"]


def test_delete_then_gone(call, workspace):
    destination = DestinationFactory(workspace=workspace)

    assert call("delete", f"destinations/{destination.public_id}").status_code == 204
    assert call("get", f"destinations/{destination.public_id}").status_code == 404
    assert Destination.objects.filter(pk=destination.pk, deleted_at__isnull=False).exists()


def test_pause_with_a_reason_resume_and_conflicts(call, workspace):
    destination = DestinationFactory(workspace=workspace)
    path = f"destinations/{destination.public_id}"

    paused = call("post", f"{path}/pause", data={"reason": "Pixel migration"})
    twice = call("post", f"{path}/pause")
    resumed = call("post", f"{path}/resume")
    again = call("post", f"{path}/resume")

    assert (paused.status_code, paused.json()["state"]) == (200, "paused")
    assert paused.json()["paused_reason"] == "Pixel migration"
    assert (twice.status_code, twice.json()["error"]["code"]) == (409, "conflict")
    assert (resumed.status_code, resumed.json()["state"]) == (200, "active")
    assert again.status_code == 409


def test_test_send_answers_what_the_platform_said(call, workspace, monkeypatch):

    destination = DestinationFactory(workspace=workspace)
    answer = {"ok": True, "status": 200, "error": "", "latency_ms": 12}
    monkeypatch.setattr(delivery, "destination_test_send", lambda *, destination: answer)

    response = call("post", f"destinations/{destination.public_id}/test", role=ApiKeyRole.EDITOR)

    assert (response.status_code, response.json()) == (200, answer)


def test_an_events_deliveries_with_attempts_and_consent_decisions(call, workspace, other_workspace):
    meta = DestinationFactory(workspace=workspace, name="Meta", type="meta_capi")
    hook = DestinationFactory(workspace=workspace, name="Hook")
    event = EventFactory(workspace=workspace, message_id="order-1")
    blocked = DeliveryFactory(
        destination=meta,
        event=event,
        status="blocked",
        decision={"action": "block", "reasons": ["gpc_opt_out"]},
    )
    delivered = DeliveryFactory(destination=hook, event=event, status="delivered")
    DeliveryAttemptFactory(delivery=delivered, status_code=200, latency_ms=70)
    DeliveryFactory(destination=hook)  # another event
    EventFactory(workspace=other_workspace, message_id="order-1")

    response = call("get", "deliveries?messageId=order-1", role=ApiKeyRole.VIEWER)

    data = {item["id"]: item for item in response.json()["data"]}
    assert set(data) == {blocked.pk, delivered.pk}
    assert data[blocked.pk]["decision"] == {
        "action": "block",
        "reasons": ["gpc_opt_out"],
        "explained": ["Global Privacy Control opts out of sale and sharing here."],
    }
    assert data[blocked.pk]["attempt_log"] == []
    assert data[delivered.pk]["destination"] == hook.public_id
    assert data[delivered.pk]["message_id"] == "order-1"
    assert data[delivered.pk]["attempt_log"][0]["latency_ms"] == 70
    assert response.json()["next_before"] is None


def test_the_log_pages_with_before(call, workspace):
    hook = DestinationFactory(workspace=workspace)
    made = [DeliveryFactory(destination=hook) for _ in range(3)]

    first = call("get", "deliveries?limit=2").json()
    second = call("get", f"deliveries?limit=2&before={first['next_before']}").json()

    assert [d["id"] for d in first["data"] + second["data"]] == [d.pk for d in reversed(made)]
    assert second["next_before"] is None


def test_replay_by_destination_or_by_ids(call, workspace):
    hook = DestinationFactory(workspace=workspace)
    dead = [DeliveryFactory(destination=hook, status="dead") for _ in range(3)]

    by_ids = call(
        "post", "deliveries/replay", role=ApiKeyRole.EDITOR, data={"deliveries": [dead[0].pk]}
    )
    by_destination = call("post", "deliveries/replay", data={"destination": hook.public_id})
    nothing = call("post", "deliveries/replay", data={})
    viewer = call("post", "deliveries/replay", role=ApiKeyRole.VIEWER, data={"deliveries": [1]})

    assert by_ids.json() == {"replayed": 1}
    assert by_destination.json() == {"replayed": 2}
    assert nothing.status_code == 400
    assert viewer.status_code == 403


def test_the_schema_describes_the_destinations_api(client):
    schema = client.get("/v1/schema", HTTP_ACCEPT="application/json").json()

    for path in (
        "/v1/destinations",
        "/v1/destinations/{destination_id}",
        "/v1/destinations/{destination_id}/pause",
        "/v1/destinations/{destination_id}/resume",
        "/v1/destinations/{destination_id}/test",
        "/v1/deliveries",
        "/v1/deliveries/replay",
    ):
        assert path in schema["paths"]
    create = schema["paths"]["/v1/destinations"]["post"]
    assert create["operationId"] == "destinations_create"
    secrets = schema["components"]["schemas"]["DestinationCreateInputRequest"]["properties"]
    assert secrets["secrets"]["writeOnly"] is True
