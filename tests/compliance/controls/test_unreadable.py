"""One evidence source that cannot be read (its region's database down, a query that fails)
is shown as "could not be read" and needs attention; the rest of the page still works."""

import socket

import pytest
from django.db import connection, connections
from django.urls import reverse

from compliance.controls import evidence
from tests.factories import MembershipFactory, WorkspaceFactory
from workspaces.models import Role

UNREAD = "could not be read"


@pytest.fixture
def eu_region_down(transactional_db):
    """``region_eu`` pointed at a local port nothing listens on; put back after the test (a
    transactional test, so no test transaction holds the connection that is replaced)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    region = connections["region_eu"]
    saved = dict(region.settings_dict)
    region.close()
    region.settings_dict.update(HOST="127.0.0.1", PORT=str(port))
    yield
    region.close()
    region.settings_dict.clear()
    region.settings_dict.update(saved)


def test_a_region_database_that_does_not_answer_is_named_and_the_rest_still_shows(
    client, admin_user, eu_region_down
):
    workspace = WorkspaceFactory(name="Acme EU", region="eu", owner=admin_user)
    client.force_login(admin_user)

    response = client.get(reverse("compliance:controls", args=[workspace.slug]))

    assert response.status_code == 200
    controls = {c["id"]: c for c in response.context["controls"]}
    # the schema figures live in the region's database: that source could not be read…
    unread = next(e for e in controls["PI1.3"]["evidence"] if e["key"] == "input_validation")
    assert unread["status"] == "attention" and UNREAD in unread["reason"]
    assert unread["title"] == evidence.TITLES["input_validation"]
    assert controls["PI1.3"]["status"] == "attention"
    # …and every other source was read as usual (the control database answers)
    others = [e for c in controls.values() for e in c["evidence"] if e["key"] != "input_validation"]
    assert others and all(UNREAD not in e["reason"] for e in others)
    keys = next(e for e in controls["CC6.1"]["evidence"] if e["key"] == "api_keys")
    assert keys["status"] == "na"
    assert UNREAD in response.content.decode()

    data = client.get(reverse("compliance:controls-json", args=[workspace.slug]))
    assert data.status_code == 200


@pytest.mark.django_db
def test_a_failing_query_on_the_control_database_spoils_only_its_own_source(
    client, workspace, viewer_user, monkeypatch
):
    def broken(workspace, now):
        with connection.cursor() as cursor:  # inside the request's transaction
            cursor.execute("SELECT 1 / 0")
        raise AssertionError("unreachable")

    monkeypatch.setitem(evidence.EVIDENCE, "incidents", broken)
    MembershipFactory(workspace=workspace, role=Role.ADMIN, user__name="Second admin")
    client.force_login(viewer_user)

    response = client.get(reverse("compliance:controls", args=[workspace.slug]))

    assert response.status_code == 200
    controls = {c["id"]: c for c in response.context["controls"]}
    incidents = next(e for e in controls["CC7.2"]["evidence"] if e["key"] == "incidents")
    assert incidents["status"] == "attention" and UNREAD in incidents["reason"]
    # the sources read after it (the request's transaction recovered) are there
    mfa = next(e for e in controls["CC6.1"]["evidence"] if e["key"] == "mfa_sso")
    assert "Second admin" in mfa["reason"]
    inventory = next(e for e in controls["CC6.7"]["evidence"] if e["key"] == "inventory")
    assert inventory["status"] == "na"
