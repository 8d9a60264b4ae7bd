"""Monitoring's data in the data plane: minute figures and the rejected events kept for the
debugger (destinations/metrics, docs/monitoring.md "Figures").

Neither holds personal data: a figure is a count (or a sum of latencies) per workspace, minute,
kind and subject (a source, an event name, a reason code, a destination's public id); a
rejected event keeps why it was refused and how it was named, never its payload or identifiers.
"""

from django.contrib.postgres.indexes import BrinIndex
from django.db import models

from workspaces.regions import CONTROL_REF, DataPlaneManager


class MinuteFigure(models.Model):
    """One figure of one workspace for one minute (UTC). Written only by adding upserts
    (``destinations.metrics.writer.figures_write``); kinds and subjects are listed in
    ``destinations.metrics``."""

    data_plane = True
    workspace = models.ForeignKey("workspaces.Workspace", **CONTROL_REF)
    minute = models.DateTimeField()  # truncated to the minute, UTC
    kind = models.CharField(max_length=32)
    subject = models.CharField(max_length=240, blank=True)
    value = models.BigIntegerField(default=0)  # a count, or a sum (latency: milliseconds)
    count = models.BigIntegerField(default=0)  # latency: the number of requests timed
    buckets = models.JSONField(null=True, blank=True)  # latency: a fixed-edge histogram

    objects = DataPlaneManager()

    class Meta:
        constraints = [
            # Also the index of every workspace's reads: (workspace, minute) lead it.
            models.UniqueConstraint(
                fields=["workspace", "minute", "kind", "subject"], name="minutefigure_once"
            )
        ]
        indexes = [
            # The detectors read a region's recent minutes for every workspace; the purge
            # walks the table by time.
            BrinIndex(fields=["minute"], name="minutefigure_minute_brin"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.subject} @ {self.minute:%Y-%m-%d %H:%M}: {self.value}"


class RejectedEvent(models.Model):
    """An event refused at ingestion, kept for a while so the debugger can show it: at most
    ``destinations.metrics.REJECTED_KEPT_PER_MINUTE`` per workspace per minute (the rest are
    only counted). The first error is in ``reason``/``field``/``message``; ``errors`` holds up
    to ten (field, code, message) — texts that never quote the values sent."""

    data_plane = True
    workspace = models.ForeignKey("workspaces.Workspace", **CONTROL_REF)
    received_at = models.DateTimeField()
    message_id = models.CharField(max_length=100, blank=True)
    type = models.CharField(max_length=16, blank=True)
    name = models.CharField(max_length=200, blank=True)
    reason = models.CharField(max_length=64)
    field = models.CharField(max_length=200, blank=True)
    message = models.CharField(max_length=300, blank=True)
    errors = models.JSONField(default=list)
    api_key = models.CharField(max_length=32, blank=True)  # the key's public id
    source = models.CharField(max_length=8, blank=True)  # "native" | "segment"

    objects = DataPlaneManager()

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "-received_at"], name="rejected_ws_received"),
            BrinIndex(fields=["received_at"], name="rejected_received_brin"),
        ]

    def __str__(self) -> str:
        return f"rejected {self.message_id or '(no messageId)'}: {self.reason}"
