"""Incidents (control plane): one row per incident and its timeline.

Free text people write (title, notes, the post-mortem) lives here; the timeline's ``detail``
and every audit payload hold machine data only — ids, phases, severities, counts, hashes —
never personal data (docs/monitoring.md, "Incidents")."""

from functools import partial

from django.db import models
from django.utils import timezone

from tracklayer.ids import new_public_id


class Severity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


SEVERITY_RANK = {value: rank for rank, value in enumerate(Severity.values)}


class Phase(models.TextChoices):
    DETECT = "detect", "Detect"
    CONTAIN = "contain", "Contain"
    ERADICATE = "eradicate", "Eradicate"
    REVIEW = "review", "Review"
    CLOSED = "closed", "Closed"


PHASE_ORDER = list(Phase.values)


class SourceKind(models.TextChoices):
    ANOMALY = "anomaly", "Anomaly"
    AUTO_PAUSE = "auto_pause", "Automatic pause"
    MANUAL = "manual", "Opened by hand"


class EventKind(models.TextChoices):
    OPENED = "opened", "Opened"
    PHASE_CHANGED = "phase_changed", "Phase changed"
    NOTE = "note", "Note"
    CONTAINMENT_ACTION = "containment_action", "Containment action"
    CONTAINMENT_UNDONE = "containment_undone", "Containment undone"
    LINKED_ANOMALY = "linked_anomaly", "Linked source"
    POSTMORTEM_SAVED = "postmortem_saved", "Post-mortem saved"


# The post-mortem: each field is required to close.
POSTMORTEM_FIELDS = ("impact", "timeline_summary", "contributing_factors", "corrective_actions")


class Incident(models.Model):
    public_id = models.CharField(
        max_length=32, unique=True, editable=False, default=partial(new_public_id, "inc")
    )
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="incidents"
    )
    title = models.CharField(max_length=200)
    severity = models.CharField(max_length=8, choices=Severity.choices)
    phase = models.CharField(max_length=10, choices=Phase.choices, default=Phase.DETECT)
    opened_at = models.DateTimeField(default=timezone.now)
    opened_by = models.CharField(max_length=80)  # an actor label: user:usr_…, system:…
    source_kind = models.CharField(max_length=12, choices=SourceKind.choices)
    # The anomalies' public ids, or the auto-paused destination's, that opened or joined it.
    source_ids = models.JSONField(default=list)
    # What it concerns: "destination:dst_…", "event:<event name>", … ("" when opened by hand
    # without one).
    subject = models.CharField(max_length=200, blank=True)
    # An automatic incident's de-duplication key (its subject, else kind:source id); one open
    # incident per key and workspace (constraint below). Empty for incidents opened by hand.
    dedup_key = models.CharField(max_length=220, blank=True)
    phase_changed_at = models.DateTimeField(default=timezone.now)
    contained_at = models.DateTimeField(null=True, blank=True)
    eradicated_at = models.DateTimeField(null=True, blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    impact = models.TextField(blank=True)
    timeline_summary = models.TextField(blank=True)
    contributing_factors = models.TextField(blank=True)
    corrective_actions = models.TextField(blank=True)
    # Destinations "pause all egress" paused and "resume those" has not resumed yet.
    paused_destinations = models.JSONField(default=list)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["workspace", "-opened_at"], name="incident_ws_opened")]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "dedup_key"],
                condition=models.Q(closed_at__isnull=True) & ~models.Q(dedup_key=""),
                name="incident_one_open_per_key",
            )
        ]

    def __str__(self) -> str:
        return self.public_id

    @property
    def is_open(self) -> bool:
        return self.phase != Phase.CLOSED


class IncidentEvent(models.Model):
    """One row of an incident's timeline. ``note`` is what a person wrote; ``detail`` holds
    machine data only (phases, ids, counts)."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    actor = models.CharField(max_length=80)
    kind = models.CharField(max_length=20, choices=EventKind.choices)
    note = models.TextField(blank=True)
    detail = models.JSONField(default=dict)

    class Meta:
        ordering = ["at", "pk"]
        indexes = [models.Index(fields=["incident", "at"], name="incident_event_at")]

    def __str__(self) -> str:
        return f"{self.incident_id} {self.kind}"
