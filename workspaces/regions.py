"""Where a workspace's data plane lives, decided in one place (docs/regions.md).

A data-plane model (``data_plane = True`` on the class: events, de-duplication keys, the
outbox, deliveries, attempts, tracking-plan violations) lives in one database per region. Its
queries name their workspace and so their region:

    Event.objects.for_workspace(workspace)          # that workspace's rows, in its region
    Delivery.objects.in_region("eu")                # a region's rows (workers, sweeps)
    with data_atomic(workspace): …                  # a transaction on the workspace's region

``DataPlaneRouter`` sends every control-plane model to ``default`` and every data-plane query
to the database it names. A data-plane query that names none — ``Event.objects.filter(…)``
without ``for_workspace``/``in_region`` — raises ``UnroutedQuery`` instead of silently reading
one region's database. A new row is placed by its workspace's region; a loaded row stays in
the database it came from. There are no joins between databases: references from the data
plane to the control plane are plain ids (a ForeignKey without a database constraint),
checked by the services that write them.
"""

from django.db import models, transaction

from tracklayer.regions import REGIONS, alias_for, data_aliases, region_of_alias
from workspaces.models import Workspace

CONTROL = "default"
# A data-plane row's reference to the control plane (its workspace, API key, destination): a
# plain id in another database — no constraint, no cascade, no reverse accessor, never joined.
CONTROL_REF = {"on_delete": models.DO_NOTHING, "db_constraint": False, "related_name": "+"}


class UnroutedQuery(RuntimeError):
    """A data-plane query that does not say which region it is for."""


def is_data_plane(model) -> bool:
    return bool(getattr(model, "data_plane", False))


def region_db(region: str) -> str:
    """The database alias of a region's data plane."""
    return alias_for(region)


def workspace_db(workspace: Workspace) -> str:
    """The database alias of ``workspace``'s data plane: its region's."""
    return alias_for(workspace.region)


def workspace_db_by_id(workspace_id: int) -> str:
    """As ``workspace_db``, reading the region from the control plane (one query)."""
    region = Workspace.objects.filter(pk=workspace_id).values_list("region", flat=True).first()
    if region is None:
        raise UnroutedQuery(f"workspace {workspace_id} does not exist: no region to route to")
    return alias_for(region)


def data_atomic(workspace: Workspace, **kwargs):
    """A transaction on the workspace's data plane (``transaction.atomic(using=…)``)."""
    return transaction.atomic(using=workspace_db(workspace), **kwargs)


class DataPlaneQuerySet(models.QuerySet):
    def for_workspace(self, workspace: Workspace):
        """The workspace's rows, read from (and written to) its region's database."""
        lookup = getattr(self.model, "data_plane_workspace", "workspace_id")
        return self.using(workspace_db(workspace)).filter(**{lookup: workspace.pk})

    def in_region(self, region: str):
        """Every row of one region's database (workers, sweeps, moves)."""
        return self.using(region_db(region))


class DataPlaneManager(models.Manager.from_queryset(DataPlaneQuerySet)):
    pass


class DataPlaneRouter:
    """Control-plane models → ``default``; data-plane models → the region their query names
    (``using``), the database a loaded row came from, or a new row's workspace's region."""

    def _route(self, model, hints):
        if not is_data_plane(model):
            return CONTROL
        instance = hints.get("instance")
        if instance is not None:
            if is_data_plane(type(instance)) and instance._state.db:
                return instance._state.db  # a loaded row stays where it came from
            if isinstance(instance, Workspace):
                return workspace_db(instance)  # Event(workspace=ws), ws.<related>…
            # A new data-plane row, or a control-plane row it is being pointed at (an API key,
            # a destination): the workspace they belong to decides.
            workspace_id = getattr(instance, "workspace_id", None)
            if workspace_id is not None:
                return workspace_db_by_id(workspace_id)
        raise UnroutedQuery(
            f"{model._meta.label} is data plane: name its region with "
            f"{model.__name__}.objects.for_workspace(workspace) or .in_region(region)"
        )

    def db_for_read(self, model, **hints):
        return self._route(model, hints)

    def db_for_write(self, model, **hints):
        return self._route(model, hints)

    def allow_relation(self, obj1, obj2, **hints):
        # A data-plane row may point at a control-plane row by id (no constraint, no join).
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        data_db = region_of_alias(db) is not None
        if model_name is None:
            # RunPython/RunSQL: on the control plane unless they say they are data plane.
            return bool(hints.get("data_plane")) == data_db
        # The current model, not the migration's historical one (``hints["model"]``), which
        # has no ``data_plane`` attribute.
        from django.apps import apps

        try:
            model = apps.get_model(app_label, model_name)
        except LookupError:
            return not data_db  # a model since deleted: it was a control-plane one
        return is_data_plane(model) == data_db


def number_from_block(sender, using, **kwargs) -> None:
    """After ``migrate`` of a region's database: start every data-plane table's ids at the
    region's block (``tracklayer.regions``), so that ids are unique across regions and a
    moved row keeps its id. Idempotent: a sequence already past the block is left alone."""
    region = region_of_alias(using)
    if region is None or sender.name != "destinations":
        return
    from django.apps import apps
    from django.db import connections

    start = REGIONS[region].id_start
    with connections[using].cursor() as cursor:
        for model in apps.get_models():
            if not is_data_plane(model) or not isinstance(model._meta.pk, models.AutoField):
                continue
            cursor.execute(
                "SELECT pg_get_serial_sequence(%s, %s)",
                [model._meta.db_table, model._meta.pk.column],
            )
            sequence = cursor.fetchone()[0]
            if sequence is None:
                continue
            cursor.execute(f"SELECT last_value FROM {sequence}")  # noqa: S608
            if cursor.fetchone()[0] < start:
                cursor.execute("SELECT setval(%s, %s, false)", [sequence, start])


__all__ = [
    "CONTROL",
    "CONTROL_REF",
    "DataPlaneManager",
    "DataPlaneQuerySet",
    "DataPlaneRouter",
    "UnroutedQuery",
    "data_aliases",
    "data_atomic",
    "is_data_plane",
    "number_from_block",
    "region_db",
    "workspace_db",
    "workspace_db_by_id",
]
