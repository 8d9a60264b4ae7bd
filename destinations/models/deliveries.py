"""Deliveries: the data plane's outbox to platforms.

An accepted event gets one ``Delivery`` per matching destination (fan-out); workers claim due
deliveries per destination with ``FOR UPDATE SKIP LOCKED``, ask the consent firewall, send,
and record one ``DeliveryAttempt`` per event per try. Docs: docs/delivery.md.
"""

from django.db import models

from destinations.models.destinations import Destination
from workspaces.regions import CONTROL_REF, DataPlaneManager


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # waiting for its (next) attempt
    DELIVERED = "delivered", "Delivered"
    BLOCKED = "blocked", "Blocked by consent"
    DEAD = "dead", "Dead letter"


class Delivery(models.Model):
    """One event on its way to one destination."""

    data_plane = True
    workspace = models.ForeignKey("workspaces.Workspace", **CONTROL_REF)
    destination = models.ForeignKey(Destination, **CONTROL_REF)
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

    objects = DataPlaneManager()

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

    # The consent decision taken when the delivery was last tried ({} before that): read here
    # only, for the dashboard and the API alike.
    @property
    def decision_action(self) -> str | None:
        decision = self.decision if isinstance(self.decision, dict) else {}
        return decision.get("action") or None

    @property
    def decision_reasons(self) -> list[str]:
        decision = self.decision if isinstance(self.decision, dict) else {}
        return [str(reason) for reason in decision.get("reasons") or ()]


class AttemptOutcome(models.TextChoices):
    DELIVERED = "delivered"
    RETRY = "retry"  # failed, will be tried again
    FAILED = "failed"  # refused for good (or out of attempts)


class DeliveryAttempt(models.Model):
    data_plane = True
    data_plane_workspace = "delivery__workspace_id"  # joined within the region's database
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_set")
    destination = models.ForeignKey(Destination, **CONTROL_REF)
    # The HTTP request that carried it: auto-pause counts requests, not events, so one failed
    # batch of 500 events is one failure, not 500.
    request_id = models.UUIDField(null=True)
    started_at = models.DateTimeField()
    latency_ms = models.PositiveIntegerField()
    status_code = models.PositiveSmallIntegerField(null=True)
    outcome = models.CharField(max_length=9, choices=AttemptOutcome.choices)
    error = models.CharField(max_length=300, blank=True)  # never a secret

    objects = DataPlaneManager()

    class Meta:
        indexes = [
            # Auto-pause and health: a destination's recent attempts.
            models.Index(fields=["destination", "-started_at"], name="attempt_dest_recent"),
            models.Index(fields=["delivery"], name="attempt_delivery"),
        ]

    def __str__(self) -> str:
        return f"attempt of delivery {self.delivery_id}: {self.outcome}"
