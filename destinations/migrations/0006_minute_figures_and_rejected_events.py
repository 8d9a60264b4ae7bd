"""Minute figures and rejected events (docs/monitoring.md "Figures"): data plane, so the router
creates both tables in every region's database and never in ``default``; their ids start at
the region's block (``workspaces.regions.number_from_block``) like every data-plane table's."""

import django.contrib.postgres.indexes
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("destinations", "0005_retention_windows"),
        ("workspaces", "0005_identity_policy"),
    ]

    operations = [
        migrations.CreateModel(
            name="MinuteFigure",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("minute", models.DateTimeField()),
                ("kind", models.CharField(max_length=32)),
                ("subject", models.CharField(blank=True, max_length=240)),
                ("value", models.BigIntegerField(default=0)),
                ("count", models.BigIntegerField(default=0)),
                ("buckets", models.JSONField(blank=True, null=True)),
                (
                    "workspace",
                    models.ForeignKey(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="workspaces.workspace",
                    ),
                ),
            ],
            options={
                "indexes": [
                    django.contrib.postgres.indexes.BrinIndex(
                        fields=["minute"], name="minutefigure_minute_brin"
                    )
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("workspace", "minute", "kind", "subject"), name="minutefigure_once"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="RejectedEvent",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("received_at", models.DateTimeField()),
                ("message_id", models.CharField(blank=True, max_length=100)),
                ("type", models.CharField(blank=True, max_length=16)),
                ("name", models.CharField(blank=True, max_length=200)),
                ("reason", models.CharField(max_length=64)),
                ("field", models.CharField(blank=True, max_length=200)),
                ("message", models.CharField(blank=True, max_length=300)),
                ("errors", models.JSONField(default=list)),
                ("api_key", models.CharField(blank=True, max_length=32)),
                ("source", models.CharField(blank=True, max_length=8)),
                (
                    "workspace",
                    models.ForeignKey(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="workspaces.workspace",
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(fields=["workspace", "-received_at"], name="rejected_ws_received"),
                    django.contrib.postgres.indexes.BrinIndex(
                        fields=["received_at"], name="rejected_received_brin"
                    ),
                ],
            },
        ),
    ]
