"""Every SCIM change: the workspace's tokens and settings (by its admins, from Settings →
Identity or the CLI) and its users and groups (by the identity provider, through a token).

Each service takes the workspace and the actor explicitly, checks that the actor may act
there, does its work in one transaction and writes its audit entries in that same
transaction. A SCIM token acts only in its own workspace and only while it is not revoked
(``ScimTokenActor``). Payloads name people, groups and tokens by public id, group names (the
mapping's keys) and token prefixes — never an e-mail address, a name or a token.

Joiner, mover, leaver (docs/identity.md, "SCIM"):
- a new active user becomes a member with the role of its groups, else the SCIM default
  role; an account that is already a member keeps its role until its groups say otherwise;
- a change of a group's members or name re-derives the role of the people concerned
  (``workspaces.selectors.role_for_groups``), audited as ``member.role_changed``;
- deactivation or deletion removes the membership at once and ends every session of the
  person (sessions are the person's, not a workspace's: the person signs in again to reach
  other workspaces); re-activation restores the membership with the role its groups give.
- no SCIM change leaves a workspace without an admin: deactivating or deleting the last
  admin is refused (409); a group change that would demote them leaves them admin.
"""

from collections.abc import Callable
from importlib import import_module

from allauth.account.models import EmailAddress
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_record
from tracklayer.exceptions import ConflictError, DomainError, PermissionDeniedError
from workspaces import policy
from workspaces.actors import ScimTokenActor
from workspaces.models import Membership, Role, User, Workspace
from workspaces.policy import Action
from workspaces.scim import tokens
from workspaces.scim.exceptions import ScimError, invalid_value, mutability, uniqueness
from workspaces.scim.models import ScimGroup, ScimSettings, ScimToken, ScimUser
from workspaces.scim.resources import GroupInput, UserInput
from workspaces.scim.selectors import scim_default_role
from workspaces.selectors import role_for_groups
from workspaces.services import admins_lock, is_last_admin

MAX_IDS_IN_PAYLOAD = 100
DB_SESSION_ENGINES = (
    "django.contrib.sessions.backends.db",
    "django.contrib.sessions.backends.cached_db",
)

# --- Tokens and settings (the workspace's admins) ------------------------------------------------


def _token_payload(token: ScimToken) -> dict:
    return {"name": token.name, "prefix": token.display_prefix}


def _token_new(*, workspace, actor, name: str, rotated_from=None) -> tuple[ScimToken, str]:
    if not isinstance(name, str) or len(name.strip()) > 100:
        raise DomainError("A token's name has at most 100 characters.", field="name")
    prefix, secret = tokens.new_token_parts()
    token = ScimToken.objects.create(
        workspace=workspace,
        name=name.strip(),
        prefix=prefix,
        secret_hash=tokens.hash_secret(secret),
        created_by=actor if isinstance(actor, User) else None,
        rotated_from=rotated_from,
    )
    return token, tokens.format_token(prefix, secret)


@transaction.atomic
def scim_token_create(*, workspace: Workspace, actor, name: str = "") -> tuple[ScimToken, str]:
    """A new bearer token for the workspace's identity provider; returns the row and the
    token, which is never available again."""
    policy.authorize(workspace=workspace, actor=actor, action=Action.SECURITY_SETTINGS)
    token, secret = _token_new(workspace=workspace, actor=actor, name=name)
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="scim.token_created",
        resource_type="scim_token",
        resource_id=token.public_id,
        payload=_token_payload(token),
    )
    return token, secret


def _lock_live_token(workspace, token: ScimToken) -> ScimToken:
    token = ScimToken.objects.select_for_update().filter(pk=token.pk, workspace=workspace).first()
    if token is None:
        raise DomainError("No such SCIM token in this workspace.")
    if token.revoked_at is not None:
        raise ConflictError("This SCIM token is revoked already.")
    return token


@transaction.atomic
def scim_token_revoke(*, workspace: Workspace, actor, token: ScimToken) -> ScimToken:
    """Revoke now: the next request with the token is refused (401)."""
    policy.authorize(workspace=workspace, actor=actor, action=Action.SECURITY_SETTINGS)
    token = _lock_live_token(workspace, token)
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="scim.token_revoked",
        resource_type="scim_token",
        resource_id=token.public_id,
        payload=_token_payload(token),
    )
    return token


@transaction.atomic
def scim_token_rotate(*, workspace: Workspace, actor, token: ScimToken) -> tuple[ScimToken, str]:
    """A successor with the same name; the old token stops working at once (an identity
    provider holds one token: paste the new one, and its next request uses it)."""
    policy.authorize(workspace=workspace, actor=actor, action=Action.SECURITY_SETTINGS)
    token = _lock_live_token(workspace, token)
    new_token, secret = _token_new(
        workspace=workspace, actor=actor, name=token.name, rotated_from=token
    )
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="scim.token_rotated",
        resource_type="scim_token",
        resource_id=token.public_id,
        payload={"successor": new_token.public_id, **_token_payload(new_token)},
    )
    return new_token, secret


def scim_token_touch(token: ScimToken) -> None:
    """Mark the token used (at most once a minute; not audited)."""
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() >= 60:
        ScimToken.objects.filter(pk=token.pk).update(last_used_at=now)


@transaction.atomic
def scim_settings_update(*, workspace: Workspace, actor, default_role: str) -> ScimSettings:
    """The role of a provisioned person none of whose groups is mapped; the members it
    applies to get it at once (``scim_roles_sync``)."""
    policy.authorize(workspace=workspace, actor=actor, action=Action.SECURITY_SETTINGS)
    if default_role not in Role.values:
        raise DomainError(f"Unknown role {default_role!r}.", field="default_role")
    row, _ = ScimSettings.objects.select_for_update().get_or_create(workspace=workspace)
    if row.default_role == default_role:
        return row
    before, row.default_role = row.default_role, default_role
    row.save(update_fields=["default_role", "updated_at"])
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="scim.settings_updated",
        resource_type="workspace",
        resource_id=workspace.public_id,
        payload={"default_role": {"before": before, "after": default_role}},
    )
    scim_roles_sync(workspace=workspace, actor=actor)
    return row


# --- Provisioning: who may ---------------------------------------------------------------------


def _authorize(*, workspace: Workspace, actor) -> None:
    """A SCIM token of this workspace that is not revoked; or someone who may add members
    (an admin, the CLI)."""
    if isinstance(actor, ScimTokenActor):
        live = (
            actor.workspace_id == workspace.pk
            and ScimToken.objects.filter(
                pk=actor.token_id, workspace=workspace, revoked_at__isnull=True
            ).exists()
        )
        if not live:
            raise PermissionDeniedError("This SCIM token cannot act in this workspace.")
        return
    policy.authorize(workspace=workspace, actor=actor, action=Action.MEMBER_INVITE)


def _ids(values: list[str]) -> list[str]:
    return values[:MAX_IDS_IN_PAYLOAD]


def _last_admin_error() -> ScimError:
    return ScimError(
        "This change would leave the workspace without an admin: make someone else admin first.",
        status=409,
    )


def _membership(workspace, user) -> Membership | None:
    return Membership.objects.select_for_update().filter(workspace=workspace, user=user).first()


def _group_role(workspace, scim_user: ScimUser, *, default: str) -> str:
    groups = scim_user.groups.values_list("display_name", flat=True)
    return role_for_groups(workspace=workspace, groups=groups, default=default)


def _end_sessions(user: User) -> int:
    """End every session of ``user``: those allauth recorded at sign-in (``UserSession``),
    and — with database sessions — any other session signed in as them."""
    ended = 0
    for user_session in UserSession.objects.filter(user=user):
        user_session.end()
        ended += 1
    if settings.SESSION_ENGINE in DB_SESSION_ENGINES:
        store = import_module(settings.SESSION_ENGINE).SessionStore
        live = Session.objects.filter(expire_date__gt=timezone.now()).iterator(chunk_size=500)
        for session in [s for s in live if s.get_decoded().get(SESSION_KEY) == str(user.pk)]:
            store().delete(session.session_key)
            ended += 1
    return ended


def _shared(user: User, workspace) -> bool:
    """Whether the account belongs to anyone besides this workspace's identity provider: a
    membership elsewhere, or another workspace's SCIM record."""
    return (
        Membership.objects.filter(user=user).exclude(workspace=workspace).exists()
        or ScimUser.objects.filter(user=user).exclude(workspace=workspace).exists()
    )


def _full_name(data: UserInput) -> str:
    name = " ".join(p for p in (data.given_name, data.family_name) if p)
    return (name or data.display_name)[:150]


# --- Users ---------------------------------------------------------------------------------------


def _leave(*, workspace, scim_user: ScimUser) -> dict:
    """Remove the membership and end the person's sessions; what happened, for the audit."""
    admins = admins_lock(workspace=workspace)
    membership = _membership(workspace, scim_user.user)
    role = None
    if membership is not None:
        if is_last_admin(membership, admins):
            raise _last_admin_error()
        role = membership.role
        membership.delete()
    return {"role_removed": role, "sessions_ended": _end_sessions(scim_user.user)}


def _join(*, workspace, scim_user: ScimUser) -> tuple[str, bool]:
    """Make the person a member (role from their groups, else the default); an existing
    membership is kept as it is. Returns the role and whether the membership is new."""
    membership = _membership(workspace, scim_user.user)
    if membership is not None:
        return membership.role, False
    role = _group_role(workspace, scim_user, default=scim_default_role(workspace=workspace))
    Membership.objects.create(workspace=workspace, user=scim_user.user, role=role)
    return role, True


def _sync_roles(*, workspace, actor, scim_users) -> int:
    """``_sync_role`` for each of ``scim_users``, the default role read once; how many
    changed."""
    scim_users = list(scim_users)
    if not scim_users:
        return 0
    default = scim_default_role(workspace=workspace)
    return sum(
        _sync_role(workspace=workspace, actor=actor, scim_user=scim_user, default=default)
        for scim_user in scim_users
    )


def _sync_role(*, workspace, actor, scim_user: ScimUser, default: str) -> bool:
    """Give an active member the role their groups give now (mover), ``default`` (the
    workspace's default SCIM role) without a mapped group; whether it changed. The
    workspace's last admin is never demoted this way (an identity provider pushing an
    unmapped "Everyone" group must not fail, nor leave the workspace without an admin)."""
    if not scim_user.active:
        return False
    admins = admins_lock(workspace=workspace)
    membership = _membership(workspace, scim_user.user)
    if membership is None:
        return False  # removed by an admin meanwhile: groups do not bring them back
    role = _group_role(workspace, scim_user, default=default)
    if role == membership.role:
        return False
    if is_last_admin(membership, admins):
        return False  # the workspace's last admin stays admin; their groups still change
    before, membership.role = membership.role, role
    membership.save(update_fields=["role", "updated_at"])
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="member.role_changed",
        resource_type="user",
        resource_id=scim_user.user.public_id,
        payload={"role": {"before": before, "after": role}, "via": "scim"},
    )
    return True


@transaction.atomic
def scim_user_create(*, workspace: Workspace, actor, data: UserInput) -> ScimUser:
    """Provision a person (joiner). An account with that e-mail address is reused (people are
    global); one this workspace's identity provider provisioned already is ``uniqueness``."""
    _authorize(workspace=workspace, actor=actor)
    user = User.objects.filter(email__iexact=data.user_name).first()
    existing_account = user is not None
    if user is not None and ScimUser.objects.filter(workspace=workspace, user=user).exists():
        raise uniqueness(f"A user with userName {data.user_name!r} exists in this workspace.")
    try:
        with transaction.atomic():
            if user is None:
                user = User.objects.create_user(
                    email=data.user_name, password=None, name=_full_name(data)
                )
            scim_user = ScimUser.objects.create(
                workspace=workspace,
                user=user,
                external_id=data.external_id,
                given_name=data.given_name,
                family_name=data.family_name,
                display_name=data.display_name,
                emails=data.emails,
                active=data.active,
            )
    except IntegrityError:  # the same person, provisioned by a concurrent request
        raise uniqueness(f"A user with userName {data.user_name!r} exists already.") from None
    payload = {"existing_account": existing_account, "active": data.active}
    if data.active:
        role, joined = _join(workspace=workspace, scim_user=scim_user)
        payload.update(role=role, membership="created" if joined else "kept")
    else:
        payload.update(_leave(workspace=workspace, scim_user=scim_user))
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="scim.user_created",
        resource_type="user",
        resource_id=user.public_id,
        payload=payload,
    )
    return scim_user


@transaction.atomic
def scim_user_patch(
    *, workspace: Workspace, actor, scim_user: ScimUser, patched: Callable[[ScimUser], UserInput]
) -> ScimUser:
    """A PATCH: the row is locked before ``patched`` reads it, so two PATCHes at once apply
    one after the other and neither loses the other's change."""
    locked = (
        ScimUser.objects.select_for_update()
        .select_related("user")
        .get(pk=scim_user.pk, workspace=workspace)
    )
    return scim_user_update(
        workspace=workspace, actor=actor, scim_user=locked, data=patched(locked)
    )


@transaction.atomic
def scim_user_update(
    *, workspace: Workspace, actor, scim_user: ScimUser, data: UserInput
) -> ScimUser:
    """Apply a PUT or a PATCH's result. ``active`` false is the leaver (membership gone,
    sessions ended), true again the returner. The account's e-mail address (``userName``)
    and name change only when no one else has the account (another workspace's member)."""
    _authorize(workspace=workspace, actor=actor)
    scim_user = (
        ScimUser.objects.select_for_update()
        .select_related("user")
        .get(pk=scim_user.pk, workspace=workspace)
    )
    user = scim_user.user
    changed = []
    if data.user_name != user.email:
        if _shared(user, workspace):
            raise mutability(
                "userName cannot change: the account also belongs to another workspace."
            )
        if User.objects.filter(email__iexact=data.user_name).exclude(pk=user.pk).exists():
            raise uniqueness(f"Another account has the userName {data.user_name!r}.")
        user.email = data.user_name
        user.save(update_fields=["email"])
        # allauth signs in by its e-mail records too: the old address must not keep working.
        EmailAddress.objects.filter(user=user).delete()
        changed.append("userName")
    for attribute, field in (
        ("externalId", "external_id"),
        ("name.givenName", "given_name"),
        ("name.familyName", "family_name"),
        ("displayName", "display_name"),
        ("emails", "emails"),
    ):
        if getattr(scim_user, field) != getattr(data, field):
            setattr(scim_user, field, getattr(data, field))
            changed.append(attribute)
    if {"name.givenName", "name.familyName", "displayName"} & set(changed) and not _shared(
        user, workspace
    ):
        user.name = _full_name(data)
        user.save(update_fields=["name"])
    was_active = scim_user.active
    scim_user.active = data.active
    scim_user.save()
    if changed:
        audit_record(
            workspace=workspace,
            actor=actor,
            event_type="scim.user_updated",
            resource_type="user",
            resource_id=user.public_id,
            payload={"changes": changed},
        )
    if was_active and not data.active:
        audit_record(
            workspace=workspace,
            actor=actor,
            event_type="scim.user_deactivated",
            resource_type="user",
            resource_id=user.public_id,
            payload=_leave(workspace=workspace, scim_user=scim_user),
        )
    elif data.active and not was_active:
        role, joined = _join(workspace=workspace, scim_user=scim_user)
        audit_record(
            workspace=workspace,
            actor=actor,
            event_type="scim.user_reactivated",
            resource_type="user",
            resource_id=user.public_id,
            payload={"role": role, "membership": "created" if joined else "kept"},
        )
    return scim_user


@transaction.atomic
def scim_user_delete(*, workspace: Workspace, actor, scim_user: ScimUser) -> None:
    """Deprovision (leaver): the membership goes, the person's sessions end and the SCIM
    record is deleted; the account itself stays (it may belong to other workspaces)."""
    _authorize(workspace=workspace, actor=actor)
    scim_user = (
        ScimUser.objects.select_for_update()
        .select_related("user")
        .get(pk=scim_user.pk, workspace=workspace)
    )
    payload = _leave(workspace=workspace, scim_user=scim_user)
    user_id = scim_user.user.public_id
    scim_user.delete()
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="scim.user_deleted",
        resource_type="user",
        resource_id=user_id,
        payload=payload,
    )


# --- Groups --------------------------------------------------------------------------------------


def _members(workspace, ids: list[str]) -> list[ScimUser]:
    found = {
        s.user.public_id: s
        for s in ScimUser.objects.filter(workspace=workspace, user__public_id__in=ids)
        .select_related("user")
        .order_by()
    }
    missing = [i for i in ids if i not in found]
    if missing:
        raise invalid_value(f"members: no user {missing[0]!r} in this workspace.")
    return [found[i] for i in ids]


def _name_taken(workspace, name: str, *, exclude=None) -> bool:
    groups = ScimGroup.objects.filter(workspace=workspace, display_name__iexact=name)
    if exclude is not None:
        groups = groups.exclude(pk=exclude.pk)
    return groups.exists()


@transaction.atomic
def scim_group_create(*, workspace: Workspace, actor, data: GroupInput) -> ScimGroup:
    """A group, with its members; each member's role follows the group → role mapping."""
    _authorize(workspace=workspace, actor=actor)
    if _name_taken(workspace, data.display_name):
        raise uniqueness(f"A group named {data.display_name!r} exists in this workspace.")
    members = _members(workspace, data.members)
    try:
        with transaction.atomic():
            group = ScimGroup.objects.create(
                workspace=workspace, display_name=data.display_name, external_id=data.external_id
            )
    except IntegrityError:
        raise uniqueness(f"A group named {data.display_name!r} exists already.") from None
    group.members.set(members)
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="scim.group_created",
        resource_type="scim_group",
        resource_id=group.public_id,
        payload={
            "display_name": group.display_name,
            "members_added": _ids(data.members),
            "members_added_count": len(members),
        },
    )
    _sync_roles(workspace=workspace, actor=actor, scim_users=members)
    return group


@transaction.atomic
def scim_group_patch(
    *, workspace: Workspace, actor, group: ScimGroup, patched: Callable[[ScimGroup], GroupInput]
) -> ScimGroup:
    """A PATCH: the group is locked before ``patched`` reads it (Okta and Entra ID send
    member changes in parallel: each applies to the other's result)."""
    locked = ScimGroup.objects.select_for_update().get(pk=group.pk, workspace=workspace)
    return scim_group_update(workspace=workspace, actor=actor, group=locked, data=patched(locked))


@transaction.atomic
def scim_group_update(
    *, workspace: Workspace, actor, group: ScimGroup, data: GroupInput
) -> ScimGroup:
    """Apply a PUT or a PATCH's result: a new name (which the mapping may know under another
    role) or other members (mover); the roles of the people concerned follow."""
    _authorize(workspace=workspace, actor=actor)
    group = ScimGroup.objects.select_for_update().get(pk=group.pk, workspace=workspace)
    before = list(group.members.select_related("user").order_by())
    before_ids = [m.user.public_id for m in before]
    members = _members(workspace, data.members)
    changes = {}
    if data.display_name != group.display_name:
        if _name_taken(workspace, data.display_name, exclude=group):
            raise uniqueness(f"A group named {data.display_name!r} exists in this workspace.")
        changes["display_name"] = {"before": group.display_name, "after": data.display_name}
        group.display_name = data.display_name
    if data.external_id != group.external_id:
        changes["external_id"] = {"before": group.external_id, "after": data.external_id}
        group.external_id = data.external_id
    added = [m for m in members if m.user.public_id not in before_ids]
    removed = [m for m in before if m.user.public_id not in data.members]
    if not changes and not added and not removed:
        return group
    group.save()
    group.members.set(members)
    added_ids = [m.user.public_id for m in added]
    removed_ids = [m.user.public_id for m in removed]
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="scim.group_updated",
        resource_type="scim_group",
        resource_id=group.public_id,
        payload={
            "display_name": group.display_name,
            "changes": changes,
            "members_added": _ids(added_ids),
            "members_added_count": len(added),
            "members_removed": _ids(removed_ids),
            "members_removed_count": len(removed),
        },
    )
    concerned = (before + added) if "display_name" in changes else (added + removed)
    _sync_roles(workspace=workspace, actor=actor, scim_users=concerned)
    return group


@transaction.atomic
def scim_group_delete(*, workspace: Workspace, actor, group: ScimGroup) -> None:
    """Delete the group; its former members' roles follow their remaining groups."""
    _authorize(workspace=workspace, actor=actor)
    group = ScimGroup.objects.select_for_update().get(pk=group.pk, workspace=workspace)
    former = list(group.members.select_related("user").order_by())
    group_id, name = group.public_id, group.display_name
    group.delete()
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="scim.group_deleted",
        resource_type="scim_group",
        resource_id=group_id,
        payload={
            "display_name": name,
            "members_removed": _ids([m.user.public_id for m in former]),
            "members_removed_count": len(former),
        },
    )
    _sync_roles(workspace=workspace, actor=actor, scim_users=former)


@transaction.atomic
def scim_roles_sync(*, workspace: Workspace, actor) -> int:
    """Re-derive the role of every active SCIM-provisioned member after the group → role
    mapping or the default role changed (a mover for each whose role changes, audited as
    ``member.role_changed``); the last admin is never demoted. Returns how many changed."""
    policy.authorize(workspace=workspace, actor=actor, action=Action.MEMBER_CHANGE_ROLE)
    active = ScimUser.objects.filter(workspace=workspace, active=True).select_related("user")
    return _sync_roles(workspace=workspace, actor=actor, scim_users=active.order_by("pk"))
