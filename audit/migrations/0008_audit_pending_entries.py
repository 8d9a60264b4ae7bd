"""Entries queued while the advisory lock is on (docs/adr/0009): a table as append-only as the
log itself — UPDATE, DELETE and TRUNCATE are refused by the same trigger function as the
log's (migration 0002) — and, on the head, the mark up to which they have been appended."""

import django.db.models.deletion
from django.db import migrations, models

TABLE = "audit_auditpendingentry"

FORWARD = f"""
CREATE TRIGGER {TABLE}_no_update_delete
    BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION audit_reject_mutation();
CREATE TRIGGER {TABLE}_no_truncate
    BEFORE TRUNCATE ON {TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_mutation();
"""
BACKWARD = f"""
DROP TRIGGER IF EXISTS {TABLE}_no_truncate ON {TABLE};
DROP TRIGGER IF EXISTS {TABLE}_no_update_delete ON {TABLE};
"""


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0007_checkpoint_witness"),
        ("workspaces", "0002_api_key_audit_role"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditloghead",
            name="pending_appended_seq",
            field=models.BigIntegerField(default=0, editable=False),
        ),
        migrations.CreateModel(
            name="AuditPendingEntry",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("seq", models.BigIntegerField()),
                ("event_type", models.CharField(max_length=64)),
                ("resource_type", models.CharField(max_length=64)),
                ("resource_id", models.CharField(max_length=64)),
                ("actor", models.CharField(max_length=80)),
                ("timestamp", models.DateTimeField()),
                ("payload_json", models.TextField()),
                (
                    "workspace",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="workspaces.workspace",
                    ),
                ),
            ],
            options={
                "verbose_name_plural": "audit pending entries",
                "ordering": ["workspace", "seq"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("workspace", "seq"), name="audit_pending_unique_seq"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("seq__gte", 1)), name="audit_pending_seq_gte_1"
                    ),
                ],
            },
        ),
        migrations.RunSQL(FORWARD, BACKWARD),
    ]
