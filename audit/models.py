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
    # The Merkle tree's right edge (RFC 9162 compact range): the roots of its perfect subtrees,
    # largest first, 32 bytes each. Appends need nothing else to extend the tree.
    frontier = models.BinaryField(default=b"", editable=False)
    # Advisory lock: while set, nothing is appended without the key (SHA-256 of it here; the
    # key is 256 random bits and shown once when the lock is enabled). Entries that may not
    # wait are queued meanwhile (``AuditPendingEntry``); every other audited change is refused.
    advisory_key_hash = models.CharField(max_length=64, blank=True, default="", editable=False)
    advisory_locked_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Entries queued under the lock (``AuditPendingEntry``) up to this ``seq`` are in the log:
    # the lift appends the rest and moves this mark in the same transaction. The pending rows
    # themselves are never changed or removed, so this mark is the only thing that moves.
    pending_appended_seq = models.BigIntegerField(default=0, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.origin} @ {self.size}"

    @property
    def frontier_hashes(self) -> list[bytes]:
        raw = bytes(self.frontier)
        return [raw[i : i + 32] for i in range(0, len(raw), 32)]


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
            # An entry by its hash (public verification's proof, an export's entry looked up):
            # 0.7 ms instead of ~100 ms in a 300,000-entry log.
            models.Index(fields=["workspace", "hash"], name="audit_entry_hash_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.idx} {self.event_type} {self.resource_type}:{self.resource_id}"

    @property
    def hash_hex(self) -> str:
        return bytes(self.hash).hex()

    @property
    def prev_hash_hex(self) -> str | None:
        return None if self.prev_hash is None else bytes(self.prev_hash).hex()


class AuditPendingEntry(models.Model):
    """An entry that could not be appended because the log was under the advisory lock, kept
    durably in the transaction of the change it records (docs/adr/0009).

    It holds exactly what ``audit_record`` would have appended — the change's own time, its
    actor, and its payload as the canonical JSON that was validated when it was queued — and
    ``seq``, its place (1, 2, 3, … per workspace) in the order the changes committed. Lifting
    the lock appends every entry beyond ``AuditLogHead.pending_appended_seq`` in ``seq`` order.
    Append-only like the log (migration 0008): nothing can drop or edit an entry that waits.
    """

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.PROTECT, related_name="+"
    )
    seq = models.BigIntegerField()
    event_type = models.CharField(max_length=64)
    resource_type = models.CharField(max_length=64)
    resource_id = models.CharField(max_length=64)
    actor = models.CharField(max_length=80)
    timestamp = models.DateTimeField()
    payload_json = models.TextField()

    class Meta:
        ordering = ["workspace", "seq"]
        verbose_name_plural = "audit pending entries"
        constraints = [
            models.UniqueConstraint(fields=["workspace", "seq"], name="audit_pending_unique_seq"),
            models.CheckConstraint(condition=models.Q(seq__gte=1), name="audit_pending_seq_gte_1"),
        ]

    def __str__(self) -> str:
        return f"pending {self.seq} {self.event_type} {self.resource_type}:{self.resource_id}"


class AuditMerkleNode(models.Model):
    """The hash of one perfect subtree of a workspace's Merkle tree: level 0 holds leaf hashes,
    level L index j covers entries [j·2^L, (j+1)·2^L). Any proof needs O(log n) of them."""

    pk = models.CompositePrimaryKey("workspace", "level", "index")
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.PROTECT, related_name="+"
    )
    level = models.PositiveSmallIntegerField()
    index = models.BigIntegerField()
    hash = models.BinaryField(max_length=32)

    def __str__(self) -> str:
        return f"{self.workspace_id}/{self.level}/{self.index}"


class AuditSigningKey(models.Model):
    """A workspace's Ed25519 checkpoint key. The private key is encrypted with the key ring
    (context-bound to this key); the verifier key is public, in C2SP signed-note format."""

    public_id = models.CharField(
        max_length=32, unique=True, editable=False, default=partial(new_public_id, "ask")
    )
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.PROTECT, related_name="audit_signing_keys"
    )
    verifier_key = models.CharField(max_length=255, unique=True)
    private_key_encrypted = models.TextField(editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace"],
                condition=models.Q(retired_at__isnull=True),
                name="audit_signing_key_one_current",
            )
        ]

    def __str__(self) -> str:
        return self.verifier_key


class AuditCheckpoint(models.Model):
    """A signed statement "this log had ``size`` entries with Merkle root ``root``", as a C2SP
    signed note. Append-only; at most one per size, so two roots for one size cannot exist."""

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.PROTECT, related_name="audit_checkpoints"
    )
    size = models.BigIntegerField()
    root = models.BinaryField(max_length=32)
    note = models.TextField()
    signing_key = models.ForeignKey(AuditSigningKey, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["workspace", "-size"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "size"], name="audit_checkpoint_one_per_size"
            ),
        ]

    def __str__(self) -> str:
        return f"checkpoint {self.size} of {self.workspace_id}"


class AuditVerification(models.Model):
    """The outcome of one verification run (periodic, dashboard button or CLI)."""

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.PROTECT, related_name="audit_verifications"
    )
    ran_at = models.DateTimeField(auto_now_add=True)
    valid = models.BooleanField()
    total_events = models.BigIntegerField()
    break_count = models.IntegerField()
    result = models.JSONField()

    class Meta:
        ordering = ["-ran_at"]
        indexes = [models.Index(fields=["workspace", "-ran_at"], name="audit_verification_latest")]

    def __str__(self) -> str:
        return f"{'valid' if self.valid else 'BROKEN'} at {self.ran_at:%Y-%m-%d %H:%M}"


# The tables whose rows are never changed or removed, in one place: migrations 0002, 0004, 0008
# install the triggers that refuse UPDATE, DELETE and TRUNCATE on them, and
# ``tracklayer audit-db-role`` grants the application's database role only SELECT and INSERT
# on them (the test suite's flush and tampering helpers read this list too). A new append-only
# model needs both: triggers in its migration, and its table here (then re-run the command).
APPEND_ONLY_TABLES: tuple[str, ...] = tuple(
    model._meta.db_table
    for model in (AuditEntry, AuditMerkleNode, AuditCheckpoint, AuditPendingEntry)
)


class ExportTarget(models.TextChoices):
    S3 = "s3", "S3-compatible bucket (S3, R2, MinIO, …)"
    DIRECTORY = "directory", "Directory on the server"


class AuditExportConfig(models.Model):
    """Where and when a workspace's audit log is exported (Settings → Compliance)."""

    workspace = models.OneToOneField(
        "workspaces.Workspace", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    enabled = models.BooleanField(default=False)
    target = models.CharField(max_length=10, choices=ExportTarget.choices, default=ExportTarget.S3)
    s3_endpoint_url = models.URLField(blank=True, help_text="Empty for AWS S3.")
    s3_bucket = models.CharField(max_length=63, blank=True)
    s3_region = models.CharField(max_length=32, blank=True)
    s3_access_key_id = models.CharField(max_length=128, blank=True)
    s3_secret_access_key_encrypted = models.TextField(blank=True, editable=False)
    directory = models.CharField(max_length=500, blank=True)
    prefix = models.CharField(max_length=200, blank=True, default="tracklayer-audit")
    # When (UTC, cron fields): Sunday 02:00 by default.
    schedule_day_of_week = models.CharField(max_length=20, default="0")
    schedule_hour = models.PositiveSmallIntegerField(default=2)
    schedule_minute = models.PositiveSmallIntegerField(default=0)
    retention_days = models.PositiveIntegerField(default=90)
    # Every signed checkpoint is POSTed here (an external witness, or the customer's system),
    # so history cannot be rewritten without the rewrite being provable elsewhere.
    witness_url = models.URLField(blank=True)
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", null=True, blank=True, on_delete=models.SET_NULL
    )
    last_export_at = models.DateTimeField(null=True, blank=True)
    last_export_key = models.CharField(max_length=500, blank=True)
    last_error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"audit export of {self.workspace_id} to {self.target}"


class AuditWitnessDelivery(models.Model):
    """One attempt to hand a signed checkpoint to the workspace's witness URL."""

    checkpoint = models.ForeignKey(AuditCheckpoint, on_delete=models.PROTECT, related_name="+")
    url = models.URLField()
    attempted_at = models.DateTimeField(auto_now_add=True)
    status_code = models.PositiveSmallIntegerField(null=True)
    ok = models.BooleanField()
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-attempted_at"]

    def __str__(self) -> str:
        return f"checkpoint {self.checkpoint_id} → {self.url}: {'ok' if self.ok else 'failed'}"
