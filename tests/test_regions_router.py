"""The one place a workspace's region becomes a database (workspaces/regions.py): what the
router sends where, what it refuses, and that every data-plane model is known to the move."""

import pytest
from django.apps import apps
from django.db import connections, router

from destinations.models import Destination, Event, EventMessageId
from destinations.residency.tables import TABLE_NAMES
from tests.factories import EventFactory, WorkspaceFactory
from tracklayer.regions import REGIONS, alias_for, data_aliases
from workspaces.models import Workspace
from workspaces.regions import DataPlaneManager, UnroutedQuery, is_data_plane

DATA_PLANE = [model for model in apps.get_models() if is_data_plane(model)]


def test_the_data_plane_is_the_models_derived_from_events():
    assert {model._meta.label for model in DATA_PLANE} == {
        "destinations.Event",
        "destinations.EventMessageId",
        "destinations.EventOperational",
        "destinations.Delivery",
        "destinations.DeliveryAttempt",
        "destinations.TrackingPlanViolation",
        "destinations.MinuteFigure",
        "destinations.RejectedEvent",
    }


@pytest.mark.parametrize("model", DATA_PLANE, ids=lambda model: model.__name__)
def test_every_data_plane_model_is_routed_and_moved(model):
    # A data-plane model without the manager could not say its region; one missing from the
    # move's tables would be left behind in the old region by every move.
    assert isinstance(model.objects, DataPlaneManager)
    assert model._meta.db_table in TABLE_NAMES
    # Its references to the control plane are plain ids: no constraint, no cascade.
    for field in model._meta.concrete_fields:
        if field.is_relation and not is_data_plane(field.related_model):
            assert field.db_constraint is False, field
            assert field.remote_field.on_delete.__name__ == "DO_NOTHING", field


def test_the_move_copies_no_table_that_is_not_data_plane():
    assert set(TABLE_NAMES) == {model._meta.db_table for model in DATA_PLANE}


def test_a_data_plane_query_that_names_no_region_is_refused():
    with pytest.raises(UnroutedQuery, match="for_workspace"):
        router.db_for_read(Event)
    with pytest.raises(UnroutedQuery):
        Event.objects.filter(message_id="x").exists()


def test_control_plane_models_always_go_to_the_control_database():
    assert router.db_for_read(Workspace) == "default"
    assert router.db_for_write(Destination) == "default"


@pytest.mark.django_db
def test_rows_go_to_their_workspaces_region_and_stay_where_they_were_loaded():
    eu = WorkspaceFactory(region="eu", owner=None)
    us = WorkspaceFactory(region="us", owner=None)
    event = EventFactory(workspace=eu)
    assert event._state.db == alias_for("eu")
    assert Event(workspace=us, message_id="m")._state.db == alias_for("us")
    loaded = Event.objects.for_workspace(eu).get()
    assert router.db_for_write(Event, instance=loaded) == alias_for("eu")
    assert list(EventMessageId.objects.for_workspace(us)) == []
    assert Event.objects.in_region("us").count() == 0


@pytest.mark.django_db
def test_migrations_put_each_table_in_its_plane_only():
    def tables(alias):
        return set(connections[alias].introspection.table_names())

    data_tables = {model._meta.db_table for model in DATA_PLANE}
    assert not data_tables & tables("default")
    for alias in data_aliases():
        present = tables(alias)
        assert data_tables <= present
        assert "workspaces_workspace" not in present and "audit_auditentry" not in present


@pytest.mark.django_db
def test_each_regions_ids_start_at_its_own_block():
    ids = {
        code: EventFactory(workspace=WorkspaceFactory(region=code, owner=None)).pk
        for code in REGIONS
    }
    for code, pk in ids.items():
        start = REGIONS[code].id_start
        assert start <= pk < start + 10**13
