"""Anomalies and their alert settings (control plane).

An anomaly holds figures, a baseline and names (a destination's or key's public id, an event
name) — no personal data — and every change to it is audited in the same transaction, which
the control plane's audit log needs (docs/monitoring.md, "Anomalies"). The names of events a
workspace has sent, and the (event, top-level property, JSON type) triples of its events, are
kept here too, to tell a new one (schema drift): names and types only, never a value.
"""

from functools import partial

from django.conf import settings
from django.db import models
from django.db.models import Q

from tracklayer.ids import new_public_id


class AnomalyKind(models.TextChoices):
    VOLUME_DROP = "volume_drop", "Volume drop"
    VOLUME_SPIKE = "volume_spike", "Volume spike"
    DELIVERY_ERROR_RATE = "delivery_error_rate", "Delivery error rate"
    DELIVERY_LATENCY = "delivery_latency", "Delivery latency"
    SCHEMA_DRIFT = "schema_drift", "Schema drift"
    CONSENT_BLOCK_RATE = "consent_block_rate", "Consent block rate"
    DUPLICATE_RATE = "duplicate_rate", "Duplicate rate"
    AUTO_PAUSE = "auto_pause", "Automatic pause"
    DESTINATION_DOWN = "destination_down", "Destination down"


class AnomalySeverity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


SEVERITY_RANK = {value: rank for rank, value in enumerate(AnomalySeverity.values)}


class AnomalyStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


class Anomaly(models.Model):
    """One anomaly: at most one not yet resolved per (workspace, kind, subject)."""

    public_id = models.CharField(
        max_length=32, unique=True, editable=False, default=partial(new_public_id, "anm")
    )
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="anomalies"
    )
    kind = models.CharField(max_length=24, choices=AnomalyKind.choices)
    # "destination:dst_…", "source:key_…", "event:<name>[|<property path>]", "" (workspace).
    subject = models.CharField(max_length=300, blank=True)
    severity = models.CharField(max_length=8, choices=AnomalySeverity.choices)
    status = models.CharField(
        max_length=12, choices=AnomalyStatus.choices, default=AnomalyStatus.OPEN
    )
    summary = models.CharField(max_length=300)
    evidence = models.JSONField(default=dict)  # figures, baseline, method, sparkline series
    started_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()  # the last run that found it
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_automatically = models.BooleanField(default=False)
    # Alerts sent per transition ("opened", "resolved") and channel, and the last failure.
    alerts = models.JSONField(default=dict)
    alert_error = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "kind", "subject"],
                condition=~Q(status="resolved"),
                name="anomaly_unresolved_once",
            )
        ]
        indexes = [
            models.Index(fields=["workspace", "-started_at"], name="anomaly_ws_started"),
            models.Index(
                fields=["status"], condition=~Q(status="resolved"), name="anomaly_unresolved"
            ),
        ]

    def __str__(self) -> str:
        return self.public_id


class AlertSettings(models.Model):
    """Who hears about a workspace's anomalies: members by e-mail, and a signed webhook."""

    workspace = models.OneToOneField(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="alert_settings"
    )
    email_members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    webhook_url = models.URLField(max_length=500, blank=True)
    # The webhook's signing secret, sealed with the key ring (context: alert_context).
    webhook_secret_encrypted = models.TextField(blank=True)
    quiet_minutes = models.PositiveIntegerField(default=30)
    min_severity = models.CharField(
        max_length=8, choices=AnomalySeverity.choices, default=AnomalySeverity.LOW
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Alert settings of {self.workspace_id}"


def alert_secret_context(row: AlertSettings) -> str:
    """The key ring context of an alert webhook's secret: bound to its workspace."""
    return f"anomalies.alert_webhook:{row.workspace_id}"


class KnownEventName(models.Model):
    """An event name the workspace has sent, and when first seen: a name not yet here is
    schema drift, once the workspace has had a day to learn its names."""

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="+"
    )
    name = models.CharField(max_length=200)
    first_seen = models.DateTimeField()
    # Refreshed at most once a day; a name not seen for ``services.FORGET_AFTER`` is forgotten
    # (null: learnt before this column, read as ``first_seen``).
    last_seen = models.DateTimeField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="known_event_name_once")
        ]
        indexes = [models.Index(fields=["last_seen"], name="known_event_name_seen")]

    def __str__(self) -> str:
        return self.name


class KnownProperty(models.Model):
    """A top-level property an event of the workspace has carried, with its JSON type
    (``jsonb_typeof``: string, number, boolean, object, array, null). Learnt from a sample of
    each minute's stored events; a property or a type not yet here is schema drift. The name
    and the type only: a property's value never leaves the event store."""

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="+"
    )
    event = models.CharField(max_length=200)
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=8)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()  # refreshed at most once a day

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "event", "name", "type"], name="known_property_once"
            )
        ]
        indexes = [models.Index(fields=["last_seen"], name="known_property_seen")]

    def __str__(self) -> str:
        return f"{self.event}.{self.name}: {self.type}"
