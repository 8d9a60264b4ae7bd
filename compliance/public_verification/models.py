from django.conf import settings
from django.db import models


class PublicVerification(models.Model):
    """A workspace's opt-in to public verification of its audit log (docs/evidence-center.md):
    while ``enabled``, anyone may read its signed checkpoints, its verifier keys and inclusion
    proofs without a key. One row per workspace, made on first toggle; no row is "off"."""

    workspace = models.OneToOneField(
        "workspaces.Workspace",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="public_verification",
    )
    enabled = models.BooleanField(default=False)
    enabled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    enabled_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"public verification of {self.workspace_id}: {'on' if self.enabled else 'off'}"
