"""The Merkle nodes and checkpoints are append-only like the entries, and the tree is built
for logs that already have entries."""

from django.db import migrations

TABLES = ["audit_auditmerklenode", "audit_auditcheckpoint"]

FORWARD = "\n".join(
    f"""
CREATE TRIGGER {table}_no_update_delete
    BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION audit_reject_mutation();
CREATE TRIGGER {table}_no_truncate
    BEFORE TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_mutation();
"""
    for table in TABLES
)
BACKWARD = "\n".join(
    f"""
DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};
DROP TRIGGER IF EXISTS {table}_no_update_delete ON {table};
"""
    for table in TABLES
)


def build_trees(apps, schema_editor):
    """Leaf by leaf, as audit_record now does on every append."""
    from audit.merkle import frontier_append, leaf_hash

    AuditLogHead = apps.get_model("audit", "AuditLogHead")
    AuditEntry = apps.get_model("audit", "AuditEntry")
    AuditMerkleNode = apps.get_model("audit", "AuditMerkleNode")
    for head in AuditLogHead.objects.all():
        frontier: list[bytes] = []
        nodes = []
        materials = (
            AuditEntry.objects.filter(workspace_id=head.workspace_id)
            .order_by("idx")
            .values_list("material", flat=True)
        )
        for size, material in enumerate(materials.iterator(chunk_size=2000)):
            frontier, created = frontier_append(frontier, size, leaf_hash(bytes(material)))
            nodes.extend(
                AuditMerkleNode(workspace_id=head.workspace_id, level=level, index=index, hash=h)
                for level, index, h in created
            )
            if len(nodes) >= 5000:
                AuditMerkleNode.objects.bulk_create(nodes)
                nodes = []
        AuditMerkleNode.objects.bulk_create(nodes)
        AuditLogHead.objects.filter(pk=head.pk).update(frontier=b"".join(frontier))


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_merkle_tree_and_checkpoints")]

    operations = [
        migrations.RunSQL(FORWARD, BACKWARD),
        migrations.RunPython(build_trees, migrations.RunPython.noop),
    ]
