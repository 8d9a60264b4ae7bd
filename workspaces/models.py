from functools import partial

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone

from tracklayer.ids import new_public_id


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra):
        if not email:
            raise ValueError("A user needs an e-mail address")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra.update(is_staff=True, is_superuser=True)
        return self._create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in. Users are global; what they may do lives on their memberships."""

    public_id = models.CharField(
        max_length=32, unique=True, editable=False, default=partial(new_public_id, "usr")
    )
    email = models.EmailField(unique=True)
    name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="May sign in to the Django admin.")
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email

    @property
    def display_name(self) -> str:
        return self.name or self.email


class Region(models.TextChoices):
    US = "us", "United States"
    EU = "eu", "European Union"


class WorkspaceQuerySet(models.QuerySet):
    def active(self):
        """Workspaces that are not deleted: the only ones anybody can reach (docs/workspace-
        lifecycle.md). A deleted one keeps its row, first until its purge and then as a
        tombstone that holds its audit log."""
        return self.filter(deleted_at__isnull=True)


class Workspace(models.Model):
    """A tenant. Every tenant-owned row points here."""

    public_id = models.CharField(
        max_length=32, unique=True, editable=False, default=partial(new_public_id, "ws")
    )
    name = models.CharField(max_length=100)
    # Reserved while the workspace is deleted (it can be restored); freed (NULL) by the purge.
    slug = models.SlugField(max_length=50, unique=True, null=True, blank=True)
    # Where the data plane lives (tracklayer/regions.py): chosen at creation, changed only by
    # a verified move (``destinations.residency``), never by an edit.
    region = models.CharField(max_length=2, choices=Region.choices, default=Region.US)
    # The region a move is copying to: while set, ingestion answers 503 with Retry-After and
    # no worker touches the workspace's data plane.
    moving_to = models.CharField(max_length=2, choices=Region.choices, blank=True, default="")
    # MFA policy: members who sign in with a password must have a second factor first.
    mfa_required = models.BooleanField(default=False)
    # Deletion (docs/workspace-lifecycle.md): from ``deleted_at`` nobody reaches the workspace;
    # it can be restored until ``purge_after``, when its data is purged. ``purged_at`` marks
    # the tombstone left behind (public id, region, these dates, the audit log).
    deleted_at = models.DateTimeField(null=True, blank=True)
    purge_after = models.DateTimeField(null=True, blank=True)
    purged_at = models.DateTimeField(null=True, blank=True)
    # The purge's figures (rows per region and table, counted before its first batch), so that
    # a purge resumed after a crash still reports exactly what the workspace held.
    purge_counts = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        indexes = [
            models.Index(
                fields=["purge_after"],
                condition=models.Q(deleted_at__isnull=False, purged_at__isnull=True),
                name="workspace_purge_due",
            )
        ]

    def __str__(self) -> str:
        return self.name or self.public_id


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    EDITOR = "editor", "Editor"
    VIEWER = "viewer", "Viewer"


class Membership(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "user"], name="membership_unique_user")
        ]
        ordering = ["workspace", "user__email"]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) in {self.workspace}"


class GroupRole(models.Model):
    """An identity provider's group and the role its members get in the workspace: one mapping
    for SAML sign-ins (the groups attribute) and SCIM groups alike (docs/identity.md). A person
    in several mapped groups gets the highest of their roles."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="group_roles")
    group = models.CharField(max_length=256)  # the IdP's group name, as it sends it
    role = models.CharField(max_length=10, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["workspace", "group"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "group"], name="group_role_unique")
        ]

    def __str__(self) -> str:
        return f"{self.group} → {self.role}"


class Invitation(models.Model):
    """A single-use invitation. Only the SHA-256 of its token is stored."""

    public_id = models.CharField(
        max_length=32, unique=True, editable=False, default=partial(new_public_id, "inv")
    )
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Role.choices)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "email"],
                condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_one_pending_per_email",
            )
        ]

    def __str__(self) -> str:
        return f"Invitation of {self.email} to {self.workspace}"

    @property
    def is_pending(self) -> bool:
        return (
            self.accepted_at is None
            and self.revoked_at is None
            and self.expires_at > timezone.now()
        )


class ApiKeyEnvironment(models.TextChoices):
    LIVE = "live", "Live"
    TEST = "test", "Test"


class ApiKeyRole(models.TextChoices):
    """What a key may do. Write keys only send events; the others act like a member role."""

    WRITE = "write", "Write (send events)"
    AUDIT = "audit", "Audit (append own audit events, read the log)"
    VIEWER = "viewer", "Viewer"
    EDITOR = "editor", "Editor"
    ADMIN = "admin", "Admin"


class ApiKey(models.Model):
    """``tl_<environment>_<prefix>_<secret>``: the prefix finds the row, bcrypt checks the rest."""

    public_id = models.CharField(
        max_length=32, unique=True, editable=False, default=partial(new_public_id, "key")
    )
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    environment = models.CharField(
        max_length=4, choices=ApiKeyEnvironment.choices, default=ApiKeyEnvironment.LIVE
    )
    role = models.CharField(max_length=10, choices=ApiKeyRole.choices, default=ApiKeyRole.WRITE)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=60, editable=False)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    rotated_from = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="rotated_to"
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.display_prefix}…)"

    @property
    def display_prefix(self) -> str:
        return f"tl_{self.environment}_{self.prefix}"

    def state(self, now=None) -> str:
        """``active``, ``expiring`` (within 7 days), ``expired`` or ``revoked``."""
        now = now or timezone.now()
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        if self.expires_at is not None and (self.expires_at - now).days < 7:
            return "expiring"
        return "active"


class RegionMoveState(models.TextChoices):
    COPYING = "copying", "Copying and verifying"  # ingestion paused; the source is the truth
    CLEANING = "cleaning", "Switched; deleting the source's copy"  # the target is the truth
    DONE = "done", "Done"
    FAILED = "failed", "Failed; the workspace stayed where it was"


class RegionMove(models.Model):
    """A workspace's move from one region's data plane to another's: copy in batches, verify
    row counts and a checksum per table, switch, delete the source's copy. Every step can be
    resumed after a crash (docs/regions.md). ``tables`` holds, per table, the rows and the
    checksum both sides agreed on; ``deleted`` the rows removed from the source."""

    public_id = models.CharField(
        max_length=32, unique=True, editable=False, default=partial(new_public_id, "mv")
    )
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    source = models.CharField(max_length=2, choices=Region.choices)
    target = models.CharField(max_length=2, choices=Region.choices)
    state = models.CharField(
        max_length=8, choices=RegionMoveState.choices, default=RegionMoveState.COPYING
    )
    tables = models.JSONField(default=dict, blank=True)
    deleted = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    requested_by = models.CharField(max_length=200)  # the actor's label
    created_at = models.DateTimeField(auto_now_add=True)
    switched_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace"],
                condition=models.Q(state__in=["copying", "cleaning"]),
                name="region_move_one_open",
            )
        ]

    def __str__(self) -> str:
        return f"{self.workspace} {self.source} → {self.target} ({self.state})"
