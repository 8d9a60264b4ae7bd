"""SCIM provisioning's rows: the workspace's bearer tokens, its settings, and the identity
provider's view of its users and groups (docs/identity.md, "SCIM").

A SCIM user is a TrackLayer account plus this workspace's record of it: what the identity
provider sent (external id, names, e-mail addresses) and whether it is active. While it is
active the account is a member of the workspace; deactivated, the record stays (the provider
reads it back with ``active: false``) and the membership is gone.
"""

from functools import partial

from django.db import models

from tracklayer.ids import new_public_id
from workspaces.models import Role, User, Workspace


class ScimToken(models.Model):
    """``tlscim_<prefix>_<secret>``: the prefix finds the row, the SHA-256 of the secret (260
    random bits, so a fast hash is enough) checks the rest. Shown once, at creation."""

    public_id = models.CharField(
        max_length=32, unique=True, editable=False, default=partial(new_public_id, "sct")
    )
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="scim_tokens")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    rotated_from = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="rotated_to"
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "SCIM token"

    def __str__(self) -> str:
        return f"{self.name or 'SCIM token'} ({self.display_prefix}…)"

    @property
    def display_prefix(self) -> str:
        return f"tlscim_{self.prefix}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ScimSettings(models.Model):
    """The workspace's SCIM settings: the role of a provisioned person none of whose groups
    is mapped (``GroupRole``)."""

    workspace = models.OneToOneField(
        Workspace, on_delete=models.CASCADE, related_name="scim_settings"
    )
    default_role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "SCIM settings"
        verbose_name_plural = "SCIM settings"

    def __str__(self) -> str:
        return f"SCIM settings of {self.workspace}"


class ScimUser(models.Model):
    """The identity provider's user in one workspace. Its SCIM id is the account's public id
    (``usr_…``), looked up only within the workspace."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="scim_users")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="scim_records")
    external_id = models.CharField(max_length=255, blank=True)
    given_name = models.CharField(max_length=150, blank=True)
    family_name = models.CharField(max_length=150, blank=True)
    display_name = models.CharField(max_length=300, blank=True)
    # What the provider sent as ``emails`` ([{value, type, primary}]); the account's e-mail
    # address is ``userName``.
    emails = models.JSONField(default=list, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["workspace", "created_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "user"], name="scim_user_unique_user")
        ]
        verbose_name = "SCIM user"

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} (SCIM)"


class ScimGroup(models.Model):
    """The identity provider's group in one workspace. Its ``display_name`` is the name the
    group → role mapping (``workspaces.models.GroupRole``) knows it by."""

    public_id = models.CharField(
        max_length=32, unique=True, editable=False, default=partial(new_public_id, "scg")
    )
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="scim_groups")
    display_name = models.CharField(max_length=256)
    external_id = models.CharField(max_length=255, blank=True)
    members = models.ManyToManyField(ScimUser, related_name="groups", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["workspace", "created_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "display_name"], name="scim_group_unique_name"
            )
        ]
        verbose_name = "SCIM group"

    def __str__(self) -> str:
        return f"{self.display_name} in {self.workspace} (SCIM)"
