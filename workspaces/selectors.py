"""Reads. Every selector of a workspace-owned model takes the workspace explicitly."""

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from workspaces.models import ApiKey, GroupRole, Invitation, Membership, Role, User, Workspace

# Roles from least to most: a person in several mapped groups gets the highest.
ROLE_ORDER = (Role.VIEWER, Role.EDITOR, Role.ADMIN)


def workspace_list_for_user(*, user: User) -> QuerySet[Workspace]:
    """The user's workspaces (the switcher, ``home``); a deleted one is not among them."""
    return Workspace.objects.active().filter(memberships__user=user).order_by("name")


def membership_for(*, user: User, slug: str) -> Membership:
    """The user's membership in the workspace with ``slug``; 404 when there is none, so a
    non-member cannot tell a foreign workspace from a missing one. A deleted workspace is a
    missing one, for its members too."""
    return get_object_or_404(
        Membership.objects.select_related("workspace"),
        workspace__slug=slug,
        workspace__deleted_at__isnull=True,
        user=user,
    )


def workspace_get_active(*, slug: str) -> Workspace:
    """The workspace with ``slug`` for the paths that name it without a session (SAML); 404
    for a deleted one, as for a missing one."""
    return get_object_or_404(Workspace.objects.active(), slug=slug)


def workspace_purge_due(*, now) -> QuerySet[Workspace]:
    """Deleted workspaces past their ``purge_after`` and not purged yet, oldest first."""
    return Workspace.objects.filter(
        deleted_at__isnull=False, purged_at__isnull=True, purge_after__lte=now
    ).order_by("purge_after", "pk")


def member_list(*, workspace: Workspace) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(workspace=workspace)
        .select_related("user")
        .order_by("user__email")
    )


def member_get(*, workspace: Workspace, user_public_id: str) -> Membership:
    return get_object_or_404(
        Membership.objects.select_related("user"),
        workspace=workspace,
        user__public_id=user_public_id,
    )


def invitation_list_pending(*, workspace: Workspace) -> QuerySet[Invitation]:
    return Invitation.objects.filter(
        workspace=workspace,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).select_related("invited_by")


def invitation_get(*, workspace: Workspace, public_id: str) -> Invitation:
    return get_object_or_404(Invitation, workspace=workspace, public_id=public_id)


def api_key_list(*, workspace: Workspace) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(workspace=workspace).select_related("created_by")


def api_key_get(*, workspace: Workspace, public_id: str) -> ApiKey:
    return get_object_or_404(ApiKey, workspace=workspace, public_id=public_id)


def group_role_list(*, workspace: Workspace) -> QuerySet[GroupRole]:
    return GroupRole.objects.filter(workspace=workspace).order_by("group")


def role_for_groups(*, workspace: Workspace, groups, default: str | None) -> str | None:
    """The role an identity provider's groups give in the workspace (SAML and SCIM alike): the
    highest role any of ``groups`` is mapped to, else ``default`` (None: no access)."""
    mapped = set(
        GroupRole.objects.filter(workspace=workspace, group__in=list(groups)).values_list(
            "role", flat=True
        )
    )
    for role in reversed(ROLE_ORDER):
        if role in mapped:
            return role
    return default
