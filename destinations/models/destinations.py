"""Destinations: the control plane's configuration of where a workspace's events go.
Docs: docs/destinations.md (configuration) and docs/delivery.md (what happens to deliveries).
"""

from functools import partial

from django.conf import settings
from django.db import models

from tracklayer.ids import new_public_id


class DestinationType(models.TextChoices):
    META_CAPI = "meta_capi", "Meta Conversions API"
    TIKTOK_EVENTS = "tiktok_events", "TikTok Events API"
    GA4_MP = "ga4_mp", "GA4 Measurement Protocol"
    WEBHOOK = "webhook", "Webhook"


class DestinationState(models.TextChoices):
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"


class Destination(models.Model):
    public_id = models.CharField(
        max_length=32, unique=True, editable=False, default=partial(new_public_id, "dst")
    )
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="destinations"
    )
    type = models.CharField(max_length=16, choices=DestinationType.choices)
    name = models.CharField(max_length=100)
    # Who answers for this destination (a member of its workspace; compliance inventory).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Why events go here, in the workspace's words (compliance inventory; docs/destinations.md).
    purpose = models.CharField(max_length=500, blank=True, default="")
    config = models.JSONField(default=dict, blank=True)  # the type's non-secret settings
    # The type's secrets as JSON, AES-GCM encrypted (tracklayer.keyring), bound to this row.
    secrets_encrypted = models.TextField(blank=True, default="")
    # Which events go here: event names of track calls, "$page", "$screen", "$identify";
    # empty means every track and page event.
    event_filter = models.JSONField(default=list, blank=True)
    event_mapping = models.JSONField(default=dict, blank=True)  # "Order Completed" -> "Purchase"
    property_mapping = models.JSONField(default=dict, blank=True)  # "value" -> "properties.total"
    consent_policy = models.JSONField(default=dict, blank=True)  # overrides of the type's policy
    state = models.CharField(
        max_length=8, choices=DestinationState.choices, default=DestinationState.ACTIVE
    )
    paused_reason = models.TextField(blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_automatically = models.BooleanField(default=False)
    resumed_at = models.DateTimeField(null=True, blank=True)
    # Auto-pause: at least `min_attempts` attempts in `window_seconds`, and at least
    # `error_rate` of them failed.
    autopause_error_rate = models.FloatField(default=0.5)
    autopause_min_attempts = models.PositiveIntegerField(default=20)
    autopause_window_seconds = models.PositiveIntegerField(default=300)
    max_concurrency = models.PositiveSmallIntegerField(default=4)
    max_attempts = models.PositiveSmallIntegerField(default=10)
    # Circuit breaker: consecutive failed requests; while open, no request is sent.
    consecutive_failures = models.PositiveIntegerField(default=0)
    circuit_open_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["workspace", "deleted_at"], name="dest_ws_live")]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_type_display()})"
