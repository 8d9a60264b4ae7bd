"""The inventory page's warning counts every destination nobody can answer for: no owner, an
owner who has left the workspace, or no purpose."""

import pytest
from django.urls import reverse

from tests.destinations.factories import DestinationFactory
from tests.factories import MembershipFactory
from workspaces.models import Role

pytestmark = pytest.mark.django_db


def test_an_owner_who_left_counts_as_missing(client, workspace, admin_user):
    member = MembershipFactory(workspace=workspace, role=Role.VIEWER, user__name="Leaver")
    DestinationFactory(
        workspace=workspace, name="Hook", owner=member.user.public_id, purpose="Warehouse"
    )
    DestinationFactory(workspace=workspace, name="Meta", owner=admin_user.public_id, purpose="Ads")
    client.force_login(admin_user)
    url = reverse("inventory:list", args=[workspace.slug])

    assert b'data-testid="inventory-incomplete"' not in client.get(url).content
    member.delete()
    page = client.get(url).content.decode()

    assert 'data-testid="inventory-incomplete"' in page
    assert "1 destination without an owner who is a member, or without a purpose" in page
