"""The demo (``make run`` seeds it with ``seed_demo``) has a complete destination inventory:
every demo destination has an owner who is a member and a purpose — so the controls page does
not open on "needs attention" for them — and a demo seeded before owners existed gets them
once, while a choice made since stays."""

from io import StringIO

import pytest
from django.core.management import call_command

from compliance.inventory.selectors import inventory_rows
from destinations.models import Destination
from destinations.routing.services import destination_update
from workspaces.actors import SystemActor
from workspaces.models import Workspace

pytestmark = pytest.mark.django_db


def _seed() -> None:
    call_command("seed_demo", "--json", stdout=StringIO())


def test_every_demo_destination_has_a_member_owner_and_a_purpose():
    _seed()

    for slug in ("acme", "acme-us"):
        rows = inventory_rows(workspace=Workspace.objects.get(slug=slug))
        assert len(rows) == 4
        for row in rows:
            assert row["owner_name"] and row["owner_is_member"], (slug, row["name"])
            assert row["purpose"], (slug, row["name"])


def test_an_older_demo_gets_owners_once_and_a_later_choice_stays():
    _seed()
    workspace = Workspace.objects.get(slug="acme")
    actor = SystemActor("test")
    meta, ga4 = (
        Destination.objects.get(workspace=workspace, type=kind) for kind in ("meta_capi", "ga4_mp")
    )
    # as a demo seeded before owners existed, and one the demo's user changed since
    destination_update(
        workspace=workspace, actor=actor, destination=meta, values={"owner": None, "purpose": ""}
    )
    destination_update(
        workspace=workspace, actor=actor, destination=ga4, values={"purpose": "Ours now"}
    )

    _seed()

    meta.refresh_from_db()
    ga4.refresh_from_db()
    assert meta.owner is not None and meta.purpose
    assert ga4.purpose == "Ours now"
