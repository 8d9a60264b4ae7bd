"""Fewer indexes for every stored event to update (issue 17; docs/adr/0021): each one costs
every insert, and these served no query that another index does not serve as well.

- The foreign keys' own single-column indexes on ``workspace_id`` of the event, its message
  id and its operational row: every read of a workspace's rows goes through an index that
  starts with ``workspace_id`` — ``(workspace_id, received_at)`` and ``(workspace_id,
  message_id)`` on events, the primary key ``(workspace_id, message_id)`` of message ids, and
  the operational rows' new ``(workspace_id, received_at)``.
- ``api_key_id`` on events: nothing finds events by the key that sent them.
- The operational rows' ``(received_at)``, replaced by ``(workspace_id, received_at)``: the
  purge asks for one workspace's oldest rows, which the old index answered by reading every
  workspace's.

On the data plane (each region's database), without a transaction: the new index is built
and the others dropped CONCURRENTLY, so ingestion keeps writing meanwhile. An interrupted build
leaves an INVALID index; drop it and migrate again.
"""

import django.db.models.deletion
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models

# (model, field, table, column, the index Django named for the foreign key)
UNINDEXED = (
    (
        "event",
        "workspace",
        "destinations_event",
        "workspace_id",
        "destinations_event_workspace_id_86e5d4d4",
    ),
    (
        "event",
        "api_key",
        "destinations_event",
        "api_key_id",
        "destinations_event_api_key_id_0692a21e",
    ),
    (
        "eventmessageid",
        "workspace",
        "destinations_eventmessageid",
        "workspace_id",
        "destinations_eventmessageid_workspace_id_0488389b",
    ),
    (
        "eventoperational",
        "workspace",
        "destinations_eventoperational",
        "workspace_id",
        "destinations_eventoperational_workspace_id_4021ae3e",
    ),
)


def _field(model: str, name: str) -> models.ForeignKey:
    return models.ForeignKey(
        db_constraint=False,
        db_index=False,
        null=(model, name) == ("event", "api_key"),
        on_delete=django.db.models.deletion.DO_NOTHING,
        related_name="+",
        to="workspaces.apikey" if name == "api_key" else "workspaces.workspace",
    )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("destinations", "0008_destination_owner_and_purpose"),
        ("workspaces", "0006_workspace_deletion"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="eventoperational",
            index=models.Index(fields=["workspace", "received_at"], name="event_ops_ws_received"),
        ),
        RemoveIndexConcurrently(model_name="eventoperational", name="event_ops_received"),
        *(
            migrations.SeparateDatabaseAndState(
                state_operations=[
                    migrations.AlterField(model_name=model, name=name, field=_field(model, name))
                ],
                database_operations=[
                    migrations.RunSQL(
                        f"DROP INDEX CONCURRENTLY IF EXISTS {index};",
                        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {index} ON {table} ({column});",
                        hints={"data_plane": True},
                    )
                ],
            )
            for model, name, table, column, index in UNINDEXED
        ),
    ]
