"""A deleted workspace's destinations send nothing more: the delivery sweep does not list them
and the engine refuses them, while another workspace's keep sending; a restore sends what
waited. (The gate is the workspace's ``deleted_at``, read where ``moving_to`` already is.)"""

import pytest

from destinations import delivery
from tests.destinations.factories import DestinationFactory
from tests.destinations.helpers import local, order, run_engine, send_batch
from workspaces import services
from workspaces.actors import SystemActor

pytestmark = pytest.mark.django_db

ACTOR = SystemActor("tests")


def test_a_deleted_workspace_sends_nothing_until_restored(
    client, workspace, other_workspace, token, make_api_key, platforms
):
    mine = DestinationFactory(workspace=workspace, config=local("webhook", platforms))
    theirs = DestinationFactory(workspace=other_workspace, config=local("webhook", platforms))
    _key, other_token = make_api_key(other_workspace)
    send_batch(client, token, order("mine-1"))
    send_batch(client, other_token, order("theirs-1"))
    services.workspace_delete(workspace=workspace, actor=ACTOR, confirm_slug=workspace.slug)

    run_engine()

    assert len(platforms.received("webhook")) == 1  # theirs
    assert theirs.pk not in delivery.due_destination_ids()  # delivered, nothing left
    assert mine.pk not in delivery.due_destination_ids()
    assert delivery.destination_deliver(destination_id=mine.pk).claimed == 0

    services.workspace_restore(workspace=workspace, actor=ACTOR)
    run_engine()

    assert len(platforms.received("webhook")) == 2
