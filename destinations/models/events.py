"""The event store: events as accepted (minimised), their de-duplication keys, the
operational data kept apart for purging, and each workspace's ingestion settings.

No column holds raw personal data: identifiers are SHA-256 hashes per destination spec
(``identifiers``), and IP address and user agent live in ``EventOperational``, which a
periodic task empties after the workspace's retention (docs/ingestion.md).
"""

from django.contrib.postgres.indexes import BrinIndex, GinIndex
from django.db import models

from workspaces.regions import CONTROL_REF, DataPlaneManager

# sha256 of a text's UTF-8 bytes, IMMUTABLE so that an index can hold it (PostgreSQL's
# convert_to is only STABLE); created in every region's database by migration 0007.
SHA256_UTF8 = "tracklayer_sha256_utf8"


class EventType(models.TextChoices):
    TRACK = "track"
    IDENTIFY = "identify"
    PAGE = "page"
    SCREEN = "screen"
    GROUP = "group"
    ALIAS = "alias"


class EventStatus(models.TextChoices):
    OK = "ok"  # valid, and the tracking plan (if any) agrees
    FLAGGED = "flagged"  # accepted, with tracking-plan violations recorded


class Event(models.Model):
    """One accepted event. ``fanout_pending`` is the outbox marker: the delivery stage picks
    up events whose fan-out to destinations has not been done yet (a crash after commit loses
    nothing)."""

    data_plane = True
    # No index of its own: every index below that a workspace's reads use starts with it.
    workspace = models.ForeignKey("workspaces.Workspace", db_index=False, **CONTROL_REF)
    message_id = models.CharField(max_length=100)
    type = models.CharField(max_length=8, choices=EventType.choices)
    name = models.CharField(max_length=200, blank=True)  # track: event; page/screen: name
    anonymous_id = models.CharField(max_length=100, blank=True)
    user_id_hash = models.CharField(max_length=64, blank=True)  # SHA-256 of userId
    group_id_hash = models.CharField(max_length=64, blank=True)
    previous_id_hash = models.CharField(max_length=64, blank=True)  # alias
    timestamp = models.DateTimeField()  # skew-corrected time of the event
    original_timestamp = models.DateTimeField(null=True)
    sent_at = models.DateTimeField(null=True)
    received_at = models.DateTimeField()
    properties = models.JSONField(default=dict)  # personal fields removed
    traits = models.JSONField(default=dict)  # personal fields removed
    context = models.JSONField(default=dict)  # personal fields, IP and user agent removed
    integrations = models.JSONField(default=dict)  # Segment's per-destination switches
    identifiers = models.JSONField(default=dict)  # spec -> field -> SHA-256
    consent = models.JSONField(default=dict)  # privacy.consent.ConsentSignals.to_dict()
    validation = models.JSONField(default=dict)  # warnings, plan violations, hashed fields
    status = models.CharField(max_length=8, choices=EventStatus.choices, default=EventStatus.OK)
    source = models.CharField(max_length=8)  # "native" | "segment"
    # Not indexed: no query finds events by their key (each index costs every insert).
    api_key = models.ForeignKey("workspaces.ApiKey", null=True, db_index=False, **CONTROL_REF)
    fanout_pending = models.BooleanField(default=True)

    objects = DataPlaneManager()

    class Meta:
        indexes = [
            # The debugger and time-range scans: newest first within a workspace.
            models.Index(fields=["workspace", "-received_at"], name="event_ws_received"),
            models.Index(fields=["workspace", "message_id"], name="event_ws_message"),
            # The outbox: only events still to fan out are in this index.
            models.Index(
                fields=["received_at"],
                name="event_fanout_pending",
                condition=models.Q(fanout_pending=True),
            ),
            # Retention purges walk the whole table by time: BRIN is tiny and fits that.
            BrinIndex(fields=["received_at"], name="event_received_brin"),
            # Data-subject requests find a subject's events through these three, one bitmap
            # each (privacy.requests.matching.EVENTS_WHERE): the hashes in ``identifiers``
            # (``@>``; jsonb_path_ops keeps one small entry per value, cheap to insert), the
            # SHA-256 of ``anonymous_id`` (a request holds only that hash, never the id) and
            # the alias's ``previous_id_hash`` (partial: only alias calls have one).
            GinIndex(fields=["identifiers"], opclasses=["jsonb_path_ops"], name="event_ids_gin"),
            models.Index(
                models.Func(
                    "anonymous_id", function=SHA256_UTF8, output_field=models.BinaryField()
                ),
                name="event_anonymous_sha256",
                condition=~models.Q(anonymous_id=""),
            ),
            models.Index(
                fields=["previous_id_hash"],
                name="event_previous_id",
                condition=~models.Q(previous_id_hash=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.message_id}"


class EventMessageId(models.Model):
    """De-duplication: one row per (workspace, messageId) seen within the retention window.
    Inserted with ON CONFLICT DO NOTHING in the same statement as the event, so two copies
    arriving at once cannot both be stored."""

    data_plane = True
    pk = models.CompositePrimaryKey("workspace", "message_id")
    # The primary key starts with it: no index of its own.
    workspace = models.ForeignKey("workspaces.Workspace", db_index=False, **CONTROL_REF)
    message_id = models.CharField(max_length=100)
    received_at = models.DateTimeField()

    objects = DataPlaneManager()

    class Meta:
        indexes = [models.Index(fields=["received_at"], name="event_msgid_received")]

    def __str__(self) -> str:
        return self.message_id


class EventOperational(models.Model):
    """IP address and user agent: needed by the ad platforms for matching, purged after the
    workspace's retention (30 days unless set lower)."""

    data_plane = True
    event = models.OneToOneField(Event, on_delete=models.CASCADE, primary_key=True)
    # Indexed with received_at below: what the purge and a region move look up.
    workspace = models.ForeignKey("workspaces.Workspace", db_index=False, **CONTROL_REF)
    ip = models.GenericIPAddressField(null=True)
    user_agent = models.TextField(blank=True)
    received_at = models.DateTimeField()

    objects = DataPlaneManager()

    class Meta:
        # The retention purge takes a workspace's oldest rows (destinations/retention/purge.py).
        indexes = [models.Index(fields=["workspace", "received_at"], name="event_ops_ws_received")]

    def __str__(self) -> str:
        return f"operational data of event {self.event_id}"


class IngestionSettings(models.Model):
    """Per-workspace limits and retention; without a row the defaults in settings apply."""

    workspace = models.OneToOneField(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="ingestion_settings"
    )
    max_event_bytes = models.PositiveIntegerField(default=32 * 1024)
    max_request_bytes = models.PositiveIntegerField(default=500 * 1024)
    max_batch_events = models.PositiveIntegerField(default=2500)
    dedup_window_days = models.PositiveIntegerField(default=30)
    operational_retention_days = models.PositiveIntegerField(default=30)
    # Retention windows (destinations/retention, docs/privacy-requests.md "Retention"): events
    # (and so the debugger's data) and, apart, finished deliveries, their attempts and dead
    # letters. The hourly purge deletes what is older, in the workspace's region.
    events_retention_days = models.PositiveIntegerField(default=180)
    delivery_retention_days = models.PositiveIntegerField(default=90)
    # The purge's bookkeeping: counts of batches committed but not yet in the audit log
    # (carried into the next entry if a run stops before writing it), and the last run's.
    purge_pending = models.JSONField(default=dict, blank=True)
    last_purge_at = models.DateTimeField(null=True, blank=True)
    last_purge = models.JSONField(default=dict, blank=True)
    rate_per_second = models.PositiveIntegerField(default=1000)  # per API key, sustained
    rate_burst = models.PositiveIntegerField(default=2000)
    pii_paths = models.JSONField(default=list, blank=True)  # extra paths, e.g. "properties.vat_id"
    default_region = models.CharField(max_length=2, blank=True)  # phone numbers without +
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Ingestion settings of {self.workspace}"
