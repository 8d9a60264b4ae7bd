"""What each role may do — the only place that says so.

The dashboard (to show a button and to guard a view), the DRF API, the Django admin and the
services themselves (as the last line) all ask ``can`` / ``authorize``.
"""

from enum import StrEnum

from tracklayer.exceptions import PermissionDeniedError
from workspaces.actors import SystemActor
from workspaces.models import ApiKey, Membership, User


class Action(StrEnum):
    WORKSPACE_VIEW = "workspace.view"
    WORKSPACE_UPDATE = "workspace.update"
    WORKSPACE_DELETE = "workspace.delete"
    MEMBER_VIEW = "member.view"
    MEMBER_INVITE = "member.invite"
    MEMBER_CHANGE_ROLE = "member.change_role"
    MEMBER_REMOVE = "member.remove"
    API_KEY_VIEW = "api_key.view"
    API_KEY_MANAGE = "api_key.manage"
    AUDIT_VIEW = "audit.view"
    AUDIT_SETTINGS = "audit.settings"
    AUDIT_APPEND = "audit.append"  # a customer's own events, through the API
    # Identity (Settings → Identity): the MFA policy, SAML SSO, managed domains, group → role
    # mapping and SCIM tokens. Admins only; the page is refused to other roles.
    SECURITY_SETTINGS = "security.settings"
    ROUTING_EDIT = "routing.edit"  # destinations, mappings, consent policies
    OPERATIONS_EDIT = "operations.edit"  # pause/resume, replay, tracking plans
    EVENTS_SEND = "events.send"


READ = frozenset(
    {
        Action.WORKSPACE_VIEW,
        Action.MEMBER_VIEW,
        Action.API_KEY_VIEW,
        Action.AUDIT_VIEW,
    }
)
EDIT = READ | {Action.ROUTING_EDIT, Action.OPERATIONS_EDIT}
ADMINISTER = frozenset(Action)

ROLE_ACTIONS: dict[str, frozenset[Action]] = {
    "viewer": READ,
    "editor": EDIT,
    "admin": ADMINISTER,
    # API keys carry a role too; a write key only sends events, an audit key appends the
    # customer's own audit events and reads the log.
    "write": frozenset({Action.EVENTS_SEND}),
    "audit": frozenset({Action.AUDIT_VIEW, Action.AUDIT_APPEND}),
}


def can(role: str | None, action: Action) -> bool:
    return role is not None and action in ROLE_ACTIONS.get(role, frozenset())


def role_of(*, workspace, actor) -> str | None:
    """The role ``actor`` holds in ``workspace``, or None when it holds none."""
    if isinstance(actor, User):
        return (
            Membership.objects.filter(workspace=workspace, user=actor)
            .values_list("role", flat=True)
            .first()
        )
    if isinstance(actor, ApiKey):
        return actor.role if actor.workspace_id == workspace.pk else None
    return None


def authorize(*, workspace, actor, action: Action) -> None:
    """Raise ``PermissionDeniedError`` unless ``actor`` may do ``action`` in ``workspace``.

    System actors (the CLI, periodic tasks) act with the operator's authority.
    """
    if isinstance(actor, SystemActor):
        return
    if not can(role_of(workspace=workspace, actor=actor), action):
        raise PermissionDeniedError(f"Your role in this workspace does not allow {action}.")
