from functools import partial

from django.db import models

from tracklayer.ids import new_public_id


class AuditLogHead(models.Model):
    """The head of one workspace's log. Appends lock this row, which serialises them."""

    workspace = models.OneToOneField(
        "workspaces.Workspace",
        on_delete=models.PROTECT,
        primary_key=True,
        related_name="audit_head",
    )
    origin = models.CharField(max_length=255, unique=True, editable=False)
    size = models.BigIntegerField(default=0)
    head_hash = models.BinaryField(max_length=32, null=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.origin} @ {self.size}"


class AuditEntry(models.Model):
    """One entry. ``material`` holds the exact hashed bytes; the other columns are for queries.

    Rows are append-only: database triggers refuse UPDATE, DELETE and TRUNCATE (migration
    0002). ``hash = SHA-256(prev_hash || material)``; docs/audit-log.md gives the byte layout.
    """

    public_id = models.CharField(
        max_length=32, unique=True, editable=False, default=partial(new_public_id, "aud")
    )
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.PROTECT, related_name="audit_entries"
    )
    idx = models.BigIntegerField()
    prev_hash = models.BinaryField(max_length=32, null=True)
    hash = models.BinaryField(max_length=32)
    material = models.BinaryField()
    event_type = models.CharField(max_length=64)
    resource_type = models.CharField(max_length=64)
    resource_id = models.CharField(max_length=64)
    actor = models.CharField(max_length=80)
    timestamp = models.DateTimeField()

    class Meta:
        ordering = ["workspace", "idx"]
        verbose_name_plural = "audit entries"
        constraints = [
            models.UniqueConstraint(fields=["workspace", "idx"], name="audit_entry_unique_idx"),
            models.CheckConstraint(condition=models.Q(idx__gte=0), name="audit_entry_idx_gte_0"),
        ]
        indexes = [
            models.Index(fields=["workspace", "event_type", "idx"], name="audit_entry_type_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.idx} {self.event_type} {self.resource_type}:{self.resource_id}"

    @property
    def hash_hex(self) -> str:
        return bytes(self.hash).hex()

    @property
    def prev_hash_hex(self) -> str | None:
        return None if self.prev_hash is None else bytes(self.prev_hash).hex()
