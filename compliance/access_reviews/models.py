"""Access review campaigns (control plane): one campaign per review, one item per subject.

An item is the subject as it was when the campaign opened (a member or an active API key:
the snapshot), then the reviewer's decision on it, then — once the campaign completes — what
was applied. The snapshot never changes after opening; ``Campaign.snapshot_sha256`` is the
SHA-256 of its canonical JSON, written to the audit log with ``access_review.opened``.
Comments are what people wrote: the audit log refers to them by SHA-256 and length only.
"""

from functools import partial

from django.conf import settings
from django.db import models
from django.utils import timezone

from tracklayer.ids import new_public_id


class Trigger(models.TextChoices):
    ON_DEMAND = "on_demand", "On demand"
    SCHEDULED = "scheduled", "Quarterly schedule"


class CampaignStatus(models.TextChoices):
    OPEN = "open", "Open"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


class SubjectKind(models.TextChoices):
    MEMBER = "member", "Member"
    API_KEY = "api_key", "API key"


class Decision(models.TextChoices):
    CONFIRM = "confirm", "Confirm"
    CHANGE = "change", "Change role"
    REMOVE = "remove", "Remove"


class Outcome(models.TextChoices):
    """What completing did with an item's decision."""

    KEPT = "kept", "Kept as it was"
    ROLE_CHANGED = "role_changed", "Role changed"
    REMOVED = "removed", "Removed"
    REVOKED = "revoked", "Key revoked"
    GONE = "gone", "Gone before completion"


class Campaign(models.Model):
    public_id = models.CharField(
        max_length=32, unique=True, editable=False, default=partial(new_public_id, "arv")
    )
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="access_reviews"
    )
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    period = models.CharField(max_length=16)  # the calendar quarter it reviews: "2026-Q4"
    status = models.CharField(
        max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.OPEN
    )
    opened_at = models.DateTimeField(default=timezone.now)
    # Who opened it: a user, or the schedule (``opened_by`` empty, label ``system:…``).
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    opened_by_label = models.CharField(max_length=80)
    due_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The reviewer's name and id when they completed it: the export must not change if they
    # rename, nor when their account is deleted (``completed_by`` is then empty).
    completed_by_name = models.CharField(max_length=150, blank=True)
    completed_by_public_id = models.CharField(max_length=32, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    snapshot_sha256 = models.CharField(max_length=64)
    # SHA-256 of the result document (``export.review_json``) at completion, as audited.
    result_sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-opened_at", "-pk"]
        indexes = [models.Index(fields=["workspace", "-opened_at"], name="access_review_ws_opened")]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace"],
                condition=models.Q(status="open"),
                name="access_review_one_open",
            ),
            models.UniqueConstraint(
                fields=["workspace", "period"],
                condition=models.Q(trigger="scheduled"),
                name="access_review_one_scheduled_per_period",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} ({self.period}, {self.status})"

    @property
    def is_open(self) -> bool:
        return self.status == CampaignStatus.OPEN


class Item(models.Model):
    """One subject of a campaign: its snapshot, the decision, the outcome."""

    public_id = models.CharField(
        max_length=32, unique=True, editable=False, default=partial(new_public_id, "ari")
    )
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="items")
    kind = models.CharField(max_length=8, choices=SubjectKind.choices)
    # The stable id across campaigns: the user's ``usr_…`` or the key's ``key_…``.
    subject_id = models.CharField(max_length=32)
    # --- the snapshot, as it was at opening
    name = models.CharField(max_length=150, blank=True)
    email = models.EmailField(blank=True)  # members only
    role = models.CharField(max_length=10)
    mfa = models.BooleanField(null=True)  # members: an authenticator app set up
    sso = models.BooleanField(null=True)  # members: last sign-in through the SAML IdP
    scim = models.BooleanField(null=True)  # members: provisioned (active) through SCIM
    last_login_at = models.DateTimeField(null=True, blank=True)  # members
    joined_at = models.DateTimeField(null=True, blank=True)  # members: membership created
    key_prefix = models.CharField(max_length=32, blank=True)  # keys: tl_live_…
    key_environment = models.CharField(max_length=4, blank=True)
    created_at = models.DateTimeField(null=True, blank=True)  # keys
    last_used_at = models.DateTimeField(null=True, blank=True)  # keys
    expires_at = models.DateTimeField(null=True, blank=True)  # keys
    # --- the decision
    decision = models.CharField(max_length=8, choices=Decision.choices, blank=True)
    new_role = models.CharField(max_length=10, blank=True)
    comment = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_by_name = models.CharField(max_length=150, blank=True)
    decided_by_public_id = models.CharField(max_length=32, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    # The reviewer decided on their own membership (segregation of duties).
    self_review = models.BooleanField(default=False)
    # --- what completing did
    outcome = models.CharField(max_length=12, choices=Outcome.choices, blank=True)

    class Meta:
        ordering = ["kind", "name", "subject_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "kind", "subject_id"], name="access_review_item_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.kind}:{self.subject_id}"

    @property
    def is_decided(self) -> bool:
        return bool(self.decision)
