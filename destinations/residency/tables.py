"""The data plane's tables as a move copies them: in foreign-key order, each with its columns
(an explicit list, the same on both sides), the key it is copied in order of, and the SQL that
selects one workspace's rows."""

from dataclasses import dataclass

from destinations.models import (
    Delivery,
    DeliveryAttempt,
    Event,
    EventMessageId,
    EventOperational,
    MinuteFigure,
    RejectedEvent,
    TrackingPlanViolation,
)


@dataclass(frozen=True)
class TableSpec:
    table: str
    columns: tuple[str, ...]
    # The keyset: rows are copied in order of ``key`` within the workspace (ids are unique
    # across regions, so a copied row keeps its key and the target's largest one says how far a
    # copy got). EventMessageId's primary key is (workspace_id, message_id): within one
    # workspace, message_id alone, which compares in the databases' collation: the region
    # databases are created alike, and were they not, the verification would see the rows a
    # resumed copy skipped and copy the table again.
    key: str
    # ``t`` is the table; %(workspace)s the workspace's id.
    scope: str
    # Tables whose rows point at this one's within the region's database (deleted first).
    parents: tuple[str, ...] = ()

    @property
    def column_list(self) -> str:
        return ", ".join(self.columns)

    @property
    def row_text(self) -> str:
        """The row as PostgreSQL writes it (``ROW(t.id, t.…)::text``), in the fixed column
        order: what the checksum hashes."""
        return "ROW(" + ", ".join(f"t.{column}" for column in self.columns) + ")::text"


def _columns(model) -> tuple[str, ...]:
    return tuple(field.column for field in model._meta.concrete_fields)


WORKSPACE_SCOPE = "t.workspace_id = %(workspace)s"

# Foreign-key order: a row's parent is copied before it and deleted after it.
TABLES: tuple[TableSpec, ...] = (
    TableSpec("destinations_event", _columns(Event), "id", WORKSPACE_SCOPE),
    TableSpec(
        "destinations_eventoperational",
        _columns(EventOperational),
        "event_id",
        WORKSPACE_SCOPE,
        parents=("destinations_event",),
    ),
    TableSpec(
        "destinations_eventmessageid", _columns(EventMessageId), "message_id", WORKSPACE_SCOPE
    ),
    TableSpec(
        "destinations_trackingplanviolation", _columns(TrackingPlanViolation), "id", WORKSPACE_SCOPE
    ),
    # Minute figures and rejected events (docs/monitoring.md): the workspace's own, by id.
    TableSpec("destinations_minutefigure", _columns(MinuteFigure), "id", WORKSPACE_SCOPE),
    TableSpec("destinations_rejectedevent", _columns(RejectedEvent), "id", WORKSPACE_SCOPE),
    TableSpec(
        "destinations_delivery",
        _columns(Delivery),
        "id",
        WORKSPACE_SCOPE,
        parents=("destinations_event",),
    ),
    # No workspace column: an attempt is the workspace's through its delivery (same database).
    TableSpec(
        "destinations_deliveryattempt",
        _columns(DeliveryAttempt),
        "id",
        "t.delivery_id IN (SELECT d.id FROM destinations_delivery d "
        "WHERE d.workspace_id = %(workspace)s)",
        parents=("destinations_delivery",),
    ),
)
TABLE_NAMES = tuple(spec.table for spec in TABLES)
BY_NAME = {spec.table: spec for spec in TABLES}


def dependents(table: str) -> list[TableSpec]:
    """``table`` and every table whose rows point at it, directly or not, in copy order."""
    names = {table}
    for spec in TABLES:
        if names.intersection(spec.parents):
            names.add(spec.table)
    return [spec for spec in TABLES if spec.table in names]
