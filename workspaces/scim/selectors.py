"""SCIM reads, each for one workspace: tokens, settings, users and groups (with their SCIM
filters) and the recent provisioning activity."""

from django.db.models import Q, QuerySet

from audit.models import AuditEntry
from workspaces.models import Role, Workspace
from workspaces.scim.exceptions import not_found
from workspaces.scim.filters import GROUP_ATTRIBUTES, USER_ATTRIBUTES, filter_q
from workspaces.scim.models import ScimGroup, ScimSettings, ScimToken, ScimUser


def scim_token_list(*, workspace: Workspace) -> QuerySet[ScimToken]:
    """Newest first, revoked ones included (the page shows them as revoked)."""
    return ScimToken.objects.filter(workspace=workspace).select_related("created_by")


def scim_token_get(*, workspace: Workspace, public_id: str) -> ScimToken:
    token = ScimToken.objects.filter(workspace=workspace, public_id=public_id).first()
    if token is None:
        raise not_found("No such SCIM token in this workspace.")
    return token


def scim_default_role(*, workspace: Workspace) -> str:
    settings = ScimSettings.objects.filter(workspace=workspace).first()
    return settings.default_role if settings else Role.VIEWER


def scim_activity(*, workspace: Workspace, limit: int = 20) -> list[AuditEntry]:
    """The workspace's latest audit entries about SCIM: changes made through a SCIM token and
    the tokens' own lifecycle. Newest first."""
    return list(
        AuditEntry.objects.filter(workspace=workspace)
        .filter(Q(actor__startswith="scim:") | Q(event_type__startswith="scim."))
        .order_by("-idx")[:limit]
    )


def scim_user_list(*, workspace: Workspace, filter_text: str | None = None) -> QuerySet[ScimUser]:
    users = ScimUser.objects.filter(workspace=workspace)
    if filter_text:
        users = users.filter(filter_q(filter_text, USER_ATTRIBUTES)).distinct()
    return users.select_related("user").prefetch_related("groups").order_by("created_at", "pk")


def scim_user_get(*, workspace: Workspace, user_id: str) -> ScimUser:
    scim_user = (
        ScimUser.objects.filter(workspace=workspace, user__public_id=user_id)
        .select_related("user")
        .prefetch_related("groups")
        .first()
    )
    if scim_user is None:
        raise not_found(f"No user {user_id!r} in this workspace.")
    return scim_user


def scim_group_list(*, workspace: Workspace, filter_text: str | None = None) -> QuerySet[ScimGroup]:
    groups = ScimGroup.objects.filter(workspace=workspace)
    if filter_text:
        groups = groups.filter(filter_q(filter_text, GROUP_ATTRIBUTES)).distinct()
    return groups.prefetch_related("members__user").order_by("created_at", "pk")


def scim_group_get(*, workspace: Workspace, group_id: str) -> ScimGroup:
    group = (
        ScimGroup.objects.filter(workspace=workspace, public_id=group_id)
        .prefetch_related("members__user")
        .first()
    )
    if group is None:
        raise not_found(f"No group {group_id!r} in this workspace.")
    return group
