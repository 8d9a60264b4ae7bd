"""Destinations (the control plane) and deliveries (the data plane's outbox to platforms).

An accepted event gets one ``Delivery`` per matching destination (fan-out); workers claim due
deliveries per destination with ``FOR UPDATE SKIP LOCKED``, ask the consent firewall, send,
and record one ``DeliveryAttempt`` per event per try. Docs: docs/delivery.md.
"""

from functools import partial

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


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # waiting for its (next) attempt
    DELIVERED = "delivered", "Delivered"
    BLOCKED = "blocked", "Blocked by consent"
    DEAD = "dead", "Dead letter"


class Delivery(models.Model):
    """One event on its way to one destination."""

    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE)
    destination = models.ForeignKey(Destination, on_delete=models.CASCADE, related_name="+")
    event = models.ForeignKey("destinations.Event", on_delete=models.CASCADE, related_name="+")
    status = models.CharField(
        max_length=9, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    decision = models.JSONField(default=dict)  # the consent decision: action and reasons
    last_error = models.TextField(blank=True)
    dead_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["destination", "event"], name="delivery_once")
        ]
        indexes = [
            # The claim: a destination's due deliveries, oldest first.
            models.Index(
                fields=["destination", "next_attempt_at"],
                name="delivery_due",
                condition=models.Q(status="pending"),
            ),
            models.Index(fields=["workspace", "-created_at"], name="delivery_ws_created"),
            models.Index(fields=["destination", "status", "-created_at"], name="delivery_dest"),
            models.Index(fields=["event"], name="delivery_event"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} ({self.status})"


class AttemptOutcome(models.TextChoices):
    DELIVERED = "delivered"
    RETRY = "retry"  # failed, will be tried again
    FAILED = "failed"  # refused for good (or out of attempts)


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_set")
    destination = models.ForeignKey(Destination, on_delete=models.CASCADE, related_name="+")
    # The HTTP request that carried it: auto-pause counts requests, not events, so one failed
    # batch of 500 events is one failure, not 500.
    request_id = models.UUIDField(null=True)
    started_at = models.DateTimeField()
    latency_ms = models.PositiveIntegerField()
    status_code = models.PositiveSmallIntegerField(null=True)
    outcome = models.CharField(max_length=9, choices=AttemptOutcome.choices)
    error = models.CharField(max_length=300, blank=True)  # never a secret

    class Meta:
        indexes = [
            # Auto-pause and health: a destination's recent attempts.
            models.Index(fields=["destination", "-started_at"], name="attempt_dest_recent"),
            models.Index(fields=["delivery"], name="attempt_delivery"),
        ]

    def __str__(self) -> str:
        return f"attempt of delivery {self.delivery_id}: {self.outcome}"
