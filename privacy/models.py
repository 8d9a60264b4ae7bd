from django.db import models

from privacy.jurisdictions import STRICTEST


class ConsentSettings(models.Model):
    """A workspace's consent rules. Without a row the shipped defaults apply
    (``privacy.selectors.consent_config_get``); ``privacy.services`` is the only writer."""

    workspace = models.OneToOneField(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="consent_settings"
    )
    # The jurisdiction of an event whose location is unknown: a code of the shipped table
    # ("DE", "US-CA") or "strictest" (opt-in).
    default_jurisdiction = models.CharField(max_length=16, default=STRICTEST.code)
    honour_gpc_everywhere = models.BooleanField(default=False)
    regime_overrides = models.JSONField(default=dict, blank=True)  # code -> regime
    category_mapping = models.JSONField(default=dict, blank=True)  # CMP name -> category
    policies = models.JSONField(default=dict, blank=True)  # destination type -> policy
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "consent settings"

    def __str__(self) -> str:
        return f"Consent settings of {self.workspace}"


# --- Data-subject requests (issue 15; docs/privacy-requests.md) ------------------------------


class RequestType(models.TextChoices):
    ACCESS = "access"
    DELETE = "delete"
    SUPPRESS = "suppress"
    SUPPRESS_WITH_DELETE = "suppress_with_delete"
    UNSUPPRESS = "unsuppress"


class RequestStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class SubjectKey(models.Model):
    """The workspace's key for the keyed hashes (HMAC-SHA256) of data subjects, sealed with
    ``tracklayer.keyring`` (context ``privacy-subject-key:<workspace public id>``). Created on
    the first request; never shown."""

    workspace = models.OneToOneField(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="privacy_subject_key"
    )
    key_encrypted = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Subject key of {self.workspace}"


class DataSubjectRequest(models.Model):
    """A data-subject request (control plane). Subjects are kept only as keyed hashes
    (``subjects``: a list of ``{kind: hmac hex}``); the hashes the work matches on live in the
    region while it runs (``privacy_requestsubject``, migration 0002)."""

    public_id = models.CharField(max_length=32, unique=True)
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="data_subject_requests"
    )
    type = models.CharField(max_length=24, choices=RequestType.choices)
    status = models.CharField(
        max_length=12, choices=RequestStatus.choices, default=RequestStatus.PENDING
    )
    subjects = models.JSONField(default=list)  # [{kind: keyed hash}]
    subject_count = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict)  # store -> rows matched (access) or deleted
    suppressions = models.JSONField(default=dict)  # added / removed
    forwarding = models.JSONField(default=dict)  # destination public id -> result
    error = models.CharField(max_length=300, blank=True)
    requested_by = models.CharField(max_length=80)
    audit_idx = models.BigIntegerField(null=True)  # privacy.request_completed, once appended
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True)
    finished_at = models.DateTimeField(null=True)

    class Meta:
        indexes = [models.Index(fields=["workspace", "-created_at"], name="dsr_ws_created")]

    def __str__(self) -> str:
        return self.public_id


class Suppression(models.Model):
    """One suppressed identifier: ``kind`` (user_id, anonymous_id, email, phone) and its keyed
    hash. Matching events are acknowledged and dropped at ingestion; ``dropped`` counts them."""

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="suppressions"
    )
    kind = models.CharField(max_length=16)
    keyed_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=80)
    request = models.ForeignKey(
        DataSubjectRequest, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    dropped = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "kind", "keyed_hash"], name="suppression_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.keyed_hash[:12]}…"
