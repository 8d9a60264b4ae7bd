"""Ingestion around a region move: 503 ``workspace_moving`` with Retry-After while it copies;
afterwards events are stored in the target region, the events debugger reads them there, and
a messageId accepted before the move is still a duplicate after it."""

import pytest

from destinations.ingestion import runtime, selectors
from destinations.models import Event, EventMessageId
from destinations.residency import services
from tests.destinations.helpers import order, send_batch
from tests.factories import WorkspaceFactory
from workspaces.actors import SystemActor
from workspaces.region_moves import region_move_start

pytestmark = pytest.mark.django_db

ACTOR = SystemActor("tests")


@pytest.fixture(autouse=True)
def _no_quiesce_wait(monkeypatch):
    monkeypatch.setattr(services, "QUIESCE_SECONDS", 0)


@pytest.fixture
def eu_workspace():
    return WorkspaceFactory(region="eu")


@pytest.fixture
def eu_token(eu_workspace, make_api_key):
    return make_api_key(eu_workspace)[1]


def post(client, token, *events):
    return client.post(
        "/v1/batch",
        {"batch": list(events)},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def test_ingestion_answers_503_while_the_workspace_moves(client, eu_workspace, eu_token):
    region_move_start(workspace=eu_workspace, actor=ACTOR, target="us")
    runtime.runtime_forget()  # this process sees the move now, not within the runtime's TTL

    response = post(client, eu_token, order("during-move"))

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "workspace_moving"
    assert int(response["Retry-After"]) > 0
    assert Event.objects.for_workspace(eu_workspace).count() == 0


def test_after_a_move_events_go_to_the_target_and_old_message_ids_stay_duplicates(
    client, eu_workspace, eu_token
):
    send_batch(client, eu_token, order("before-move"))
    assert Event.objects.in_region("eu").filter(workspace_id=eu_workspace.pk).count() == 1

    services.region_move(workspace=eu_workspace, actor=ACTOR, target="us")
    runtime.runtime_forget()
    eu_workspace.refresh_from_db()

    again = send_batch(client, eu_token, order("before-move"))
    fresh = send_batch(client, eu_token, order("after-move"))

    assert (again["accepted"], again["duplicates"]) == (0, 1)
    assert (fresh["accepted"], fresh["duplicates"]) == (1, 0)
    assert Event.objects.in_region("eu").filter(workspace_id=eu_workspace.pk).count() == 0
    assert EventMessageId.objects.in_region("eu").filter(workspace_id=eu_workspace.pk).count() == 0
    ids = [event.message_id for event in selectors.events_recent(workspace=eu_workspace)]
    assert ids == ["after-move", "before-move"]
