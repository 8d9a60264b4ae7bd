"""The data plane leaves the control database (docs/regions.md).

Events, de-duplication keys, operational data, deliveries, attempts and tracking-plan
violations now live in each region's database; the router creates them there and never in
``default``. A control database migrated before regions existed still holds those tables. Here
they are dropped when empty. When one holds rows, this migration stops and says so: nothing is
dropped that was not moved first (``tracklayer regions adopt-legacy``, docs/regions.md).
"""

from django.db import migrations

LEGACY_TABLES = [  # children first
    "destinations_deliveryattempt",
    "destinations_delivery",
    "destinations_eventoperational",
    "destinations_eventmessageid",
    "destinations_trackingplanviolation",
    "destinations_event",
]


def drop_empty_legacy_tables(apps, schema_editor):
    connection = schema_editor.connection
    existing = set(connection.introspection.table_names())
    present = [table for table in LEGACY_TABLES if table in existing]
    with connection.cursor() as cursor:
        holding = []
        for table in present:
            cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {table})")  # noqa: S608
            if cursor.fetchone()[0]:
                holding.append(table)
        if holding:
            raise RuntimeError(
                "The control database still holds data-plane rows in "
                f"{', '.join(holding)}. Move them into their regions first with "
                "`tracklayer regions adopt-legacy`, then migrate again (docs/regions.md)."
            )
        for table in present:
            cursor.execute(f"DROP TABLE {table} CASCADE")


class Migration(migrations.Migration):
    dependencies = [("destinations", "0003_destinations_and_deliveries")]

    operations = [
        # No hints: the router runs it on the control database only.
        migrations.RunPython(drop_empty_legacy_tables, migrations.RunPython.noop, elidable=True),
    ]
