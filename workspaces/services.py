"""Every change to workspaces, members, invitations and API keys.

Each service takes the workspace and the acting principal explicitly, checks the policy,
does its work in one transaction and writes its audit entry in that same transaction.
Audit payloads name people and keys by public id only: no e-mail addresses, no secrets.
"""

import datetime as dt
import hashlib
import logging
import secrets

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify
from django_celery_beat.models import PeriodicTask

from audit.models import AuditExportConfig
from audit.services import audit_log_open, audit_record
from tracklayer.exceptions import ConflictError, DomainError, PermissionDeniedError
from workspaces import keys, policy
from workspaces.actors import SystemActor
from workspaces.api_key_cache import api_key_cache_forget
from workspaces.exceptions import AlreadyMemberError, InvitationInvalidError, LastAdminError
from workspaces.models import (
    ApiKey,
    ApiKeyEnvironment,
    ApiKeyRole,
    Invitation,
    Membership,
    Region,
    Role,
    User,
    Workspace,
)
from workspaces.policy import Action
from workspaces.residency import RegionPinnedError

logger = logging.getLogger("tracklayer.security")

# --- Workspaces ------------------------------------------------------------------------------


def _unique_slug(name: str) -> str:
    base = slugify(name)[:40] or "workspace"
    slug, n = base, 1
    while Workspace.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def workspace_create(
    *, actor, name: str, region: str = Region.US, slug: str | None = None, owner: User | None
) -> Workspace:
    """Create a workspace with its (empty) audit log; ``owner``, when given, becomes its admin."""
    if region not in Region.values:
        raise DomainError(f"Unknown region {region!r}.", field="region")
    try:
        with transaction.atomic():
            workspace = Workspace.objects.create(
                name=name, slug=slug or _unique_slug(name), region=region
            )
    except IntegrityError:
        raise ConflictError(f"The slug {slug!r} is taken.", field="slug") from None
    audit_log_open(workspace=workspace)
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="workspace.created",
        resource_type="workspace",
        resource_id=workspace.public_id,
        payload={"name": workspace.name, "slug": workspace.slug, "region": workspace.region},
    )
    if owner is not None:
        membership = Membership.objects.create(workspace=workspace, user=owner, role=Role.ADMIN)
        _record_joined(workspace=workspace, actor=actor, membership=membership, invitation=None)
    return workspace


@transaction.atomic
def workspace_update(
    *, workspace: Workspace, actor, name: str, region: str | None = None
) -> Workspace:
    """Rename the workspace. Its region is pinned: ``region``, when given, must be the one it
    has (a form or a client sending the whole workspace back); any other is refused with
    ``RegionPinnedError`` — only a verified move (``tracklayer workspace move-region``) changes
    it."""
    policy.authorize(workspace=workspace, actor=actor, action=Action.WORKSPACE_UPDATE)
    workspace = Workspace.objects.select_for_update().get(pk=workspace.pk)
    if region is not None and region != workspace.region:
        raise RegionPinnedError()
    if name == workspace.name:
        return workspace
    before = workspace.name
    workspace.name = name
    workspace.save(update_fields=["name", "updated_at"])
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="workspace.updated",
        resource_type="workspace",
        resource_id=workspace.public_id,
        payload={"changes": {"name": {"before": before, "after": name}}},
    )
    return workspace


# --- Deleting and restoring (docs/workspace-lifecycle.md) --------------------------------------

# How long a deleted workspace can be restored; its data is purged after that.
PURGE_AFTER = dt.timedelta(days=90)
# Staff restore with the admin's "change workspace" permission (as they move regions): a
# deleted workspace has no member who could.
RESTORE_PERMISSION = "workspaces.change_workspace"


def may_restore(actor) -> bool:
    if isinstance(actor, SystemActor):
        return True  # the CLI acts with the operator's authority
    return isinstance(actor, User) and actor.is_staff and actor.has_perm(RESTORE_PERMISSION)


def _audit_export_schedule_set(*, workspace: Workspace, enabled: bool) -> None:
    """Switch the workspace's scheduled audit export off (deletion) or back to what its
    settings say (restore). Saved one by one so that beat's scheduler sees the change."""
    config = (
        AuditExportConfig.objects.filter(workspace=workspace, periodic_task__isnull=False)
        .select_related("periodic_task")
        .first()
    )
    if config is None:
        return
    task: PeriodicTask = config.periodic_task
    wanted = enabled and config.enabled
    if task.enabled != wanted:
        task.enabled = wanted
        task.save(update_fields=["enabled"])


def _api_keys_forget(workspace: Workspace) -> None:
    for key in ApiKey.objects.filter(workspace=workspace).only("pk", "prefix"):
        api_key_cache_forget(key)


@transaction.atomic
def workspace_delete(*, workspace: Workspace, actor, confirm_slug: str) -> Workspace:
    """Delete the workspace (an admin's action; the slug typed out confirms it).

    Guarantees, all at the commit of this one transaction with its ``workspace.deleted``
    entry: every member loses access (the dashboard's gate answers 404 and the workspace
    leaves their switcher), its API keys are refused (401; the verification cache is emptied
    after commit) and with them ingestion and the API, its SCIM tokens and SAML paths are
    refused, its destinations send nothing more (the delivery sweep and engine skip a deleted
    workspace) and its scheduled audit export stops. Nothing is removed: the workspace can be
    restored (``workspace_restore``) until ``purge_after`` (90 days), then it is purged
    (``destinations.teardown``). Refused under the audit log's advisory lock, like every change
    that reconfigures the workspace, and while a region move is under way."""
    policy.authorize(workspace=workspace, actor=actor, action=Action.WORKSPACE_DELETE)
    workspace = Workspace.objects.select_for_update().get(pk=workspace.pk)
    if workspace.deleted_at is not None:
        raise ConflictError("This workspace is deleted already.")
    if (confirm_slug or "").strip() != workspace.slug:
        raise DomainError(
            f"Type the workspace's slug ({workspace.slug}) to confirm.", field="confirm_slug"
        )
    if workspace.moving_to:
        raise ConflictError(
            "This workspace is moving to another region; delete it once the move is over."
        )
    now = timezone.now()
    workspace.deleted_at = now
    workspace.purge_after = now + PURGE_AFTER
    workspace.save(update_fields=["deleted_at", "purge_after", "updated_at"])
    _audit_export_schedule_set(workspace=workspace, enabled=False)
    _api_keys_forget(workspace)
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="workspace.deleted",
        resource_type="workspace",
        resource_id=workspace.public_id,
        payload={
            "purge_after": workspace.purge_after,
            "counts": {
                "members": Membership.objects.filter(workspace=workspace).count(),
                "api_keys": sum(
                    1
                    for key in ApiKey.objects.filter(workspace=workspace)
                    if key.state(now) in ("active", "expiring")
                ),
                "invitations": Invitation.objects.filter(
                    workspace=workspace,
                    accepted_at__isnull=True,
                    revoked_at__isnull=True,
                    expires_at__gt=now,
                ).count(),
            },
        },
    )
    return workspace


@transaction.atomic
def workspace_restore(*, workspace: Workspace, actor) -> Workspace:
    """Undo a deletion before the purge (staff and the CLI only): everything the deletion
    stopped works again as it was — members, keys, SCIM, SAML, destinations, the scheduled
    export. Audited ``workspace.restored``. A purged workspace cannot be restored."""
    if not may_restore(actor):
        raise PermissionDeniedError("Restoring a deleted workspace is for staff only.")
    workspace = Workspace.objects.select_for_update().get(pk=workspace.pk)
    if workspace.purged_at is not None:
        raise ConflictError("This workspace was purged: there is nothing left to restore.")
    if workspace.deleted_at is None:
        raise ConflictError("This workspace is not deleted.")
    if workspace.purge_counts:
        raise ConflictError(
            "This workspace's purge has begun (its data is partly deleted): finish it with "
            "tracklayer workspace purge."
        )
    deleted_at = workspace.deleted_at
    workspace.deleted_at = None
    workspace.purge_after = None
    workspace.save(update_fields=["deleted_at", "purge_after", "updated_at"])
    _audit_export_schedule_set(workspace=workspace, enabled=True)
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="workspace.restored",
        resource_type="workspace",
        resource_id=workspace.public_id,
        payload={"deleted_at": deleted_at},
    )
    return workspace


# --- Members and invitations -------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_url(token: str) -> str:
    return f"{settings.TRACKLAYER_BASE_URL}/invitations/{token}/"


@transaction.atomic
def member_invite(*, workspace: Workspace, actor, email: str, role: str) -> tuple[Invitation, str]:
    """Invite ``email`` as ``role``; returns the invitation and its one-time token.

    A pending invitation for the same address is replaced (its link stops working).
    """
    policy.authorize(workspace=workspace, actor=actor, action=Action.MEMBER_INVITE)
    if role not in Role.values:
        raise DomainError(f"Unknown role {role!r}.", field="role")
    email = User.objects.normalize_email(email).lower()
    if Membership.objects.filter(workspace=workspace, user__email__iexact=email).exists():
        raise AlreadyMemberError("That person is already a member.", field="email")
    now = timezone.now()
    for previous in Invitation.objects.select_for_update().filter(
        workspace=workspace, email=email, accepted_at__isnull=True, revoked_at__isnull=True
    ):
        _invitation_revoke(workspace=workspace, actor=actor, invitation=previous, now=now)
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        workspace=workspace,
        email=email,
        role=role,
        token_hash=_token_hash(token),
        invited_by=actor if isinstance(actor, User) else None,
        expires_at=now + dt.timedelta(days=settings.INVITATION_LIFETIME_DAYS),
    )
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="member.invited",
        resource_type="invitation",
        resource_id=invitation.public_id,
        payload={"role": role, "expires_at": invitation.expires_at},
    )
    url = invitation_url(token)
    transaction.on_commit(
        lambda: send_mail(
            subject=f"You are invited to {workspace.name} on TrackLayer",
            message=(
                f"Accept the invitation within {settings.INVITATION_LIFETIME_DAYS} days:\n{url}\n"
            ),
            from_email=None,
            recipient_list=[email],
        )
    )
    return invitation, token


def _invitation_revoke(*, workspace, actor, invitation: Invitation, now) -> None:
    invitation.revoked_at = now
    invitation.save(update_fields=["revoked_at"])
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="member.invitation_revoked",
        resource_type="invitation",
        resource_id=invitation.public_id,
        payload={},
    )


@transaction.atomic
def invitation_revoke(*, workspace: Workspace, actor, invitation: Invitation) -> None:
    policy.authorize(workspace=workspace, actor=actor, action=Action.MEMBER_INVITE)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk, workspace=workspace)
    if not invitation.is_pending:
        raise InvitationInvalidError("That invitation is no longer pending.")
    _invitation_revoke(workspace=workspace, actor=actor, invitation=invitation, now=timezone.now())


def invitation_find(*, token: str) -> Invitation:
    """The pending invitation a token belongs to; a used, revoked or expired one is refused."""
    invitation = (
        Invitation.objects.select_related("workspace")
        .filter(token_hash=_token_hash(token), workspace__deleted_at__isnull=True)
        .first()
    )
    if invitation is None or not invitation.is_pending:
        raise InvitationInvalidError("This invitation link is invalid, used or expired.")
    return invitation


@transaction.atomic
def invitation_accept(*, token: str, user: User) -> Membership:
    """Make ``user`` a member. The invitation is bound to its e-mail address and used once."""
    invitation = invitation_find(token=token)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if not invitation.is_pending:
        raise InvitationInvalidError("This invitation link is invalid, used or expired.")
    if user.email.lower() != invitation.email:
        raise InvitationInvalidError(
            "This invitation was sent to another e-mail address. Sign in with that address."
        )
    workspace = invitation.workspace
    if Membership.objects.filter(workspace=workspace, user=user).exists():
        raise AlreadyMemberError("You are already a member of this workspace.")
    membership = Membership.objects.create(workspace=workspace, user=user, role=invitation.role)
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    _record_joined(workspace=workspace, actor=user, membership=membership, invitation=invitation)
    return membership


@transaction.atomic
def invitation_accept_new_user(*, token: str, password: str, name: str = "") -> Membership:
    """Create the invited person's account (e-mail from the invitation) and accept."""
    invitation = invitation_find(token=token)
    if User.objects.filter(email__iexact=invitation.email).exists():
        raise InvitationInvalidError("An account with this e-mail exists: sign in to accept.")
    user = User.objects.create_user(email=invitation.email, password=password, name=name)
    return invitation_accept(token=token, user=user)


@transaction.atomic
def member_add(*, workspace: Workspace, actor, user: User, role: str) -> Membership:
    """Add an existing account directly (operators, the demo seeder and, later, SCIM)."""
    policy.authorize(workspace=workspace, actor=actor, action=Action.MEMBER_INVITE)
    if role not in Role.values:
        raise DomainError(f"Unknown role {role!r}.", field="role")
    if Membership.objects.filter(workspace=workspace, user=user).exists():
        raise AlreadyMemberError("That person is already a member.", field="email")
    membership = Membership.objects.create(workspace=workspace, user=user, role=role)
    _record_joined(workspace=workspace, actor=actor, membership=membership, invitation=None)
    return membership


def _record_joined(*, workspace, actor, membership: Membership, invitation) -> None:
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="member.joined",
        resource_type="user",
        resource_id=membership.user.public_id,
        payload={
            "role": membership.role,
            "invitation": invitation.public_id if invitation else None,
        },
    )


def admins_lock(*, workspace: Workspace) -> list[int]:
    """Lock the workspace's admin memberships (``SELECT … FOR UPDATE``, until the transaction
    ends) and return their ids. Every path that removes or demotes a member takes it before
    the change — this module's, SSO's and SCIM's — so two at once cannot each see another
    admin and leave none (see ``is_last_admin``)."""
    return list(
        Membership.objects.select_for_update()
        .filter(workspace=workspace, role=Role.ADMIN)
        .values_list("pk", flat=True)
    )


def is_last_admin(membership: Membership, admins: list[int]) -> bool:
    """Whether ``membership`` is the workspace's only admin, by ``admins_lock``'s answer: it
    is never removed nor demoted."""
    return membership.role == Role.ADMIN and admins == [membership.pk]


@transaction.atomic
def membership_change_role(
    *, workspace: Workspace, actor, membership: Membership, role: str
) -> Membership:
    """Change a member's role. A workspace always keeps at least one admin."""
    policy.authorize(workspace=workspace, actor=actor, action=Action.MEMBER_CHANGE_ROLE)
    if role not in Role.values:
        raise DomainError(f"Unknown role {role!r}.", field="role")
    admins = admins_lock(workspace=workspace)
    membership = (
        Membership.objects.select_for_update()
        .select_related("user")
        .get(pk=membership.pk, workspace=workspace)
    )
    if membership.role == role:
        return membership
    if is_last_admin(membership, admins):
        raise LastAdminError("A workspace needs at least one admin. Make someone else admin first.")
    before = membership.role
    membership.role = role
    membership.save(update_fields=["role", "updated_at"])
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="member.role_changed",
        resource_type="user",
        resource_id=membership.user.public_id,
        payload={"role": {"before": before, "after": role}},
    )
    return membership


@transaction.atomic
def membership_remove(*, workspace: Workspace, actor, membership: Membership) -> None:
    """Remove a member (an admin's action; any member may also leave on their own)."""
    leaving = isinstance(actor, User) and actor.pk == membership.user_id
    if not leaving:
        policy.authorize(workspace=workspace, actor=actor, action=Action.MEMBER_REMOVE)
    admins = admins_lock(workspace=workspace)
    membership = (
        Membership.objects.select_for_update()
        .select_related("user")
        .get(pk=membership.pk, workspace=workspace)
    )
    if is_last_admin(membership, admins):
        raise LastAdminError("A workspace needs at least one admin. Make someone else admin first.")
    user_id = membership.user.public_id
    role = membership.role
    membership.delete()
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="member.left" if leaving else "member.removed",
        resource_type="user",
        resource_id=user_id,
        payload={"role": role},
    )


# --- API keys ----------------------------------------------------------------------------------


def _key_payload(key: ApiKey) -> dict:
    return {
        "name": key.name,
        "prefix": key.display_prefix,
        "role": key.role,
        "environment": key.environment,
        "expires_at": key.expires_at,
    }


def _api_key_new(
    *,
    workspace,
    actor,
    name: str,
    role: str,
    environment: str,
    expires_at,
    rotated_from=None,
    token_parts: tuple[str, str] | None = None,
) -> tuple[ApiKey, str]:
    if role not in ApiKeyRole.values:
        raise DomainError(f"Unknown key role {role!r}.", field="role")
    if environment not in ApiKeyEnvironment.values:
        raise DomainError(f"Unknown key environment {environment!r}.", field="environment")
    if not name.strip():
        raise DomainError("Give the key a name.", field="name")
    if expires_at is not None and expires_at <= timezone.now():
        raise DomainError("The expiry must be in the future.", field="expires_at")
    prefix, secret = token_parts or (keys.new_prefix(), keys.new_secret())
    key = ApiKey.objects.create(
        workspace=workspace,
        name=name.strip(),
        role=role,
        environment=environment,
        prefix=prefix,
        secret_hash=keys.hash_secret(secret),
        created_by=actor if isinstance(actor, User) else None,
        expires_at=expires_at,
        rotated_from=rotated_from,
    )
    return key, keys.format_token(environment, key.prefix, secret)


def default_key_expiry():
    return timezone.now() + dt.timedelta(days=settings.API_KEY_DEFAULT_LIFETIME_DAYS)


@transaction.atomic
def api_key_create(
    *,
    workspace: Workspace,
    actor,
    name: str,
    role: str = ApiKeyRole.WRITE,
    environment: str = ApiKeyEnvironment.LIVE,
    expires_at: dt.datetime | object | None = ...,
    token_parts: tuple[str, str] | None = None,
) -> tuple[ApiKey, str]:
    """Create a key; returns it with the plaintext token, which is never available again.

    ``expires_at`` defaults to ``API_KEY_DEFAULT_LIFETIME_DAYS`` from now; ``None`` means never.
    ``token_parts`` (prefix, secret) is for the demo seeder only; keys are otherwise random.
    """
    policy.authorize(workspace=workspace, actor=actor, action=Action.API_KEY_MANAGE)
    if expires_at is ...:
        expires_at = default_key_expiry()
    key, token = _api_key_new(
        workspace=workspace,
        actor=actor,
        name=name,
        role=role,
        environment=environment,
        expires_at=expires_at,
        token_parts=token_parts,
    )
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="api_key.created",
        resource_type="api_key",
        resource_id=key.public_id,
        payload=_key_payload(key),
    )
    return key, token


def _lock_live_key(workspace, key: ApiKey) -> ApiKey:
    key = ApiKey.objects.select_for_update().get(pk=key.pk, workspace=workspace)
    if key.state() in ("revoked", "expired"):
        raise ConflictError(f"This key is {key.state()} already.")
    return key


@transaction.atomic
def api_key_rotate(
    *, workspace: Workspace, actor, key: ApiKey, grace: dt.timedelta
) -> tuple[ApiKey, str]:
    """Issue a successor with the same name, role and environment. The old key keeps working
    for ``grace`` (zero: it stops now), so clients can switch without downtime."""
    policy.authorize(workspace=workspace, actor=actor, action=Action.API_KEY_MANAGE)
    if grace < dt.timedelta(0):
        raise DomainError("The grace period cannot be negative.", field="grace")
    key = _lock_live_key(workspace, key)
    if ApiKey.objects.filter(rotated_from=key).exists():
        raise ConflictError("This key has been rotated already; rotate its successor instead.")
    now = timezone.now()
    lifetime = (key.expires_at - key.created_at) if key.expires_at else None
    new_key, token = _api_key_new(
        workspace=workspace,
        actor=actor,
        name=key.name,
        role=key.role,
        environment=key.environment,
        expires_at=(now + lifetime) if lifetime else None,
        rotated_from=key,
    )
    old_expiry = now + grace
    if key.expires_at is None or old_expiry < key.expires_at:
        key.expires_at = old_expiry
        key.save(update_fields=["expires_at"])
    api_key_cache_forget(key)
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="api_key.rotated",
        resource_type="api_key",
        resource_id=key.public_id,
        payload={
            "successor": new_key.public_id,
            "old_key_expires_at": key.expires_at,
            "grace_seconds": int(grace.total_seconds()),
            "successor_key": _key_payload(new_key),
        },
    )
    return new_key, token


@transaction.atomic
def api_key_revoke(*, workspace: Workspace, actor, key: ApiKey) -> ApiKey:
    """Revoke now. Every process refuses the key within a second (see api_key_cache)."""
    policy.authorize(workspace=workspace, actor=actor, action=Action.API_KEY_MANAGE)
    key = ApiKey.objects.select_for_update().get(pk=key.pk, workspace=workspace)
    if key.revoked_at is not None:
        raise ConflictError("This key is revoked already.")
    key.revoked_at = timezone.now()
    key.save(update_fields=["revoked_at"])
    api_key_cache_forget(key)
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="api_key.revoked",
        resource_type="api_key",
        resource_id=key.public_id,
        payload={"prefix": key.display_prefix},
    )
    return key


# --- Sign-in and MFA ---------------------------------------------------------------------------
# A person belongs to several workspaces; each of their logs records their security events.

AUTH_ACTOR = SystemActor("authentication")


def _record_for_user_workspaces(*, user: User, actor, event_type: str, payload: dict) -> None:
    memberships = Membership.objects.filter(user=user, workspace__deleted_at__isnull=True)
    for membership in memberships.select_related("workspace"):
        audit_record(
            workspace=membership.workspace,
            actor=actor,
            event_type=event_type,
            resource_type="user",
            resource_id=user.public_id,
            payload=payload,
        )


@transaction.atomic
def auth_sign_in_succeeded(*, user: User, method: str) -> None:
    _record_for_user_workspaces(
        user=user, actor=user, event_type="auth.sign_in_succeeded", payload={"method": method}
    )


@transaction.atomic
def auth_sign_in_failed(*, reason: str, user: User | None = None, email: str = "") -> None:
    """Recorded in the workspaces of the account that was tried. Attempts on addresses with no
    account belong to no workspace; they are logged (address hashed) for operators."""
    if user is None and email:
        user = User.objects.filter(email__iexact=email.strip()).first()
    if user is None:
        logger.info(
            "sign-in failed for unknown account",
            extra={"email_sha256": hashlib.sha256(email.strip().lower().encode()).hexdigest()},
        )
        return
    _record_for_user_workspaces(
        user=user, actor=AUTH_ACTOR, event_type="auth.sign_in_failed", payload={"reason": reason}
    )


@transaction.atomic
def auth_mfa_changed(*, user: User, enabled: bool, authenticator_type: str) -> None:
    _record_for_user_workspaces(
        user=user,
        actor=user,
        event_type="auth.mfa_enabled" if enabled else "auth.mfa_disabled",
        payload={"type": authenticator_type},
    )


@transaction.atomic
def auth_mfa_recovery_codes_regenerated(*, user: User) -> None:
    _record_for_user_workspaces(
        user=user,
        actor=user,
        event_type="auth.mfa_recovery_codes_regenerated",
        payload={"type": "recovery_codes"},
    )
