"""An entry by its hash: public verification's proof and an export's entry looked up.

Built CONCURRENTLY: the audit log is append-only and busy; writers must not wait for the build.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("audit", "0008_audit_pending_entries"),
        ("workspaces", "0006_workspace_deletion"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="auditentry",
            index=models.Index(fields=["workspace", "hash"], name="audit_entry_hash_idx"),
        ),
    ]
