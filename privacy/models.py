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
