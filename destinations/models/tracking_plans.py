"""Tracking plans: a workspace's JSON Schemas per event name, and the violations counted
against them for drift reports. ``destinations.tracking_plans`` is the only writer
(docs/tracking-plans.md)."""

from django.conf import settings
from django.db import models

from workspaces.regions import CONTROL_REF, DataPlaneManager


class TrackingPlanMode(models.TextChoices):
    ALLOW = "allow", "Allow"
    FLAG = "flag", "Flag"
    BLOCK = "block", "Block"


class TrackingPlan(models.Model):
    """At most one per workspace. ``version`` grows by one on every saved change; the
    in-process cache of compiled validators is keyed by (row id, version)."""

    workspace = models.OneToOneField(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="tracking_plan"
    )
    mode = models.CharField(
        max_length=8, choices=TrackingPlanMode.choices, default=TrackingPlanMode.ALLOW
    )
    # What happens to a track event whose name has no schema in the plan.
    unplanned = models.CharField(
        max_length=8, choices=TrackingPlanMode.choices, default=TrackingPlanMode.ALLOW
    )
    schemas = models.JSONField(default=dict, blank=True)  # event name ("$identify") -> schema
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"Tracking plan of {self.workspace} (v{self.version})"


class TrackingPlanViolation(models.Model):
    """How often events broke one rule of the plan: aggregated per (event name, property
    path, JSON Schema keyword). ``example_message`` is built from the schema, never from the
    event, so no personal value is ever stored here."""

    data_plane = True
    workspace = models.ForeignKey("workspaces.Workspace", **CONTROL_REF)
    event_name = models.CharField(max_length=200)
    path = models.CharField(max_length=300)  # "properties.products[].price"
    code = models.CharField(max_length=40)  # the JSON Schema keyword, or "unplanned"
    count = models.BigIntegerField(default=0)
    example_message = models.CharField(max_length=300)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()

    objects = DataPlaneManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "event_name", "path", "code"],
                name="tracking_violation_unique",
            )
        ]
        indexes = [
            models.Index(fields=["workspace", "-last_seen"], name="tracking_violation_recent")
        ]

    def __str__(self) -> str:
        return f"{self.event_name} {self.path} {self.code} ×{self.count}"
