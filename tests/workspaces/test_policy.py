"""Who may do what: the whole role × action matrix, and services refusing what it forbids."""

import datetime as dt

import pytest
from django.core import mail

from audit.models import AuditEntry
from tests.factories import UserFactory
from tracklayer.exceptions import PermissionDeniedError
from workspaces import policy, services
from workspaces.actors import SystemActor
from workspaces.models import ApiKey, ApiKeyRole, Invitation, Membership, Workspace
from workspaces.policy import Action

pytestmark = pytest.mark.django_db

# Written out by hand on purpose: a change to ROLE_ACTIONS must show up here as a failure.
EXPECTED = """
    action               admin  editor  viewer  write  audit
    workspace.view         y      y       y       -      -
    workspace.update       y      -       -       -      -
    workspace.delete       y      -       -       -      -
    member.view            y      y       y       -      -
    member.invite          y      -       -       -      -
    member.change_role     y      -       -       -      -
    member.remove          y      -       -       -      -
    api_key.view           y      y       y       -      -
    api_key.manage         y      -       -       -      -
    audit.view             y      y       y       -      y
    audit.settings         y      -       -       -      -
    audit.append           y      -       -       -      y
    security.settings      y      -       -       -      -
    routing.edit           y      y       -       -      -
    operations.edit        y      y       -       -      -
    events.send            y      -       -       y      -
"""


def _parse(table: str) -> dict[tuple[str, str], bool]:
    header, *rows = (line.split() for line in table.strip().splitlines())
    roles = header[1:]
    return {
        (role, action): mark == "y"
        for action, *marks in rows
        for role, mark in zip(roles, marks, strict=True)
    }


MATRIX = _parse(EXPECTED)


def test_the_table_covers_every_action_and_role():
    assert {action for _role, action in MATRIX} == {str(action) for action in Action}
    assert {role for role, _action in MATRIX} == {"admin", "editor", "viewer", "write", "audit"}


@pytest.fixture
def actor_with_role(request, workspace, make_api_key):
    """A real actor holding ``role`` in ``workspace``: a member, or for the key-only roles
    (``write``, ``audit``) an API key."""

    def actor(role: str):
        if role in ("write", "audit"):
            return make_api_key(workspace, role=role)[0]
        return request.getfixturevalue(f"{role}_user")

    return actor


@pytest.mark.parametrize(("role", "action"), sorted(MATRIX))
def test_role_may_do_exactly_what_the_table_says(workspace, actor_with_role, role, action):
    allowed = MATRIX[role, action]
    actor = actor_with_role(role)

    assert policy.can(role, Action(action)) is allowed
    if allowed:
        policy.authorize(workspace=workspace, actor=actor, action=Action(action))
    else:
        with pytest.raises(PermissionDeniedError):
            policy.authorize(workspace=workspace, actor=actor, action=Action(action))


@pytest.mark.parametrize("action", list(Action))
def test_a_member_of_another_workspace_may_do_nothing_here(workspace, other_admin_user, action):
    with pytest.raises(PermissionDeniedError):
        policy.authorize(workspace=workspace, actor=other_admin_user, action=action)


@pytest.mark.parametrize("action", list(Action))
def test_a_key_of_another_workspace_may_do_nothing_here(
    workspace, other_workspace, make_api_key, action
):
    foreign_key, _ = make_api_key(other_workspace, role=ApiKeyRole.ADMIN)

    with pytest.raises(PermissionDeniedError):
        policy.authorize(workspace=workspace, actor=foreign_key, action=action)


def test_an_unknown_role_and_no_role_may_do_nothing():
    assert not any(policy.can(role, action) for role in (None, "owner", "") for action in Action)


def test_system_actors_act_with_the_operators_authority(workspace):
    for action in Action:
        policy.authorize(workspace=workspace, actor=SystemActor("cli"), action=action)


# --- Services refuse, and leave no trace -----------------------------------------------------


def _snapshot():
    """Everything the refused services could have touched."""
    return {
        "workspaces": list(Workspace.objects.values_list("pk", "name").order_by("pk")),
        "members": list(Membership.objects.values_list("pk", "role").order_by("pk")),
        "invitations": list(
            Invitation.objects.values_list("pk", "revoked_at", "accepted_at").order_by("pk")
        ),
        "keys": list(ApiKey.objects.values_list("pk", "revoked_at", "expires_at").order_by("pk")),
        "audit": AuditEntry.objects.count(),
    }


REFUSED = {
    "workspace_update": lambda ws, actor, ctx: services.workspace_update(
        workspace=ws, actor=actor, name="Renamed"
    ),
    "member_invite": lambda ws, actor, ctx: services.member_invite(
        workspace=ws, actor=actor, email="new@example.test", role="admin"
    ),
    "invitation_revoke": lambda ws, actor, ctx: services.invitation_revoke(
        workspace=ws, actor=actor, invitation=ctx["invitation"]
    ),
    "member_add": lambda ws, actor, ctx: services.member_add(
        workspace=ws, actor=actor, user=ctx["outsider"], role="admin"
    ),
    "membership_change_role": lambda ws, actor, ctx: services.membership_change_role(
        workspace=ws, actor=actor, membership=ctx["target"], role="admin"
    ),
    "membership_change_role_of_self": lambda ws, actor, ctx: services.membership_change_role(
        workspace=ws, actor=actor, membership=ctx["self"], role="admin"
    ),
    "membership_remove": lambda ws, actor, ctx: services.membership_remove(
        workspace=ws, actor=actor, membership=ctx["target"]
    ),
    "api_key_create": lambda ws, actor, ctx: services.api_key_create(
        workspace=ws, actor=actor, name="Mine", role="admin"
    ),
    "api_key_rotate": lambda ws, actor, ctx: services.api_key_rotate(
        workspace=ws, actor=actor, key=ctx["key"], grace=dt.timedelta(0)
    ),
    "api_key_revoke": lambda ws, actor, ctx: services.api_key_revoke(
        workspace=ws, actor=actor, key=ctx["key"]
    ),
}


@pytest.mark.parametrize("service", sorted(REFUSED))
@pytest.mark.parametrize("role", ["viewer", "editor", "write"])
def test_services_refuse_roles_without_the_right_and_write_nothing(
    workspace,
    admin_user,
    viewer_user,
    editor_user,
    make_api_key,
    django_capture_on_commit_callbacks,
    role,
    service,
):
    actors = {
        "viewer": viewer_user,
        "editor": editor_user,
        "write": make_api_key(workspace, role=ApiKeyRole.WRITE)[0],
    }
    actor = actors[role]
    own = actor.memberships.get(workspace=workspace) if role != "write" else None
    target_user = editor_user if role == "viewer" else viewer_user
    invitation, _ = services.member_invite(
        workspace=workspace, actor=admin_user, email="pending@example.test", role="viewer"
    )
    context = {
        "invitation": invitation,
        "outsider": UserFactory(),
        "target": Membership.objects.get(workspace=workspace, user=target_user),
        "self": own or Membership.objects.get(workspace=workspace, user=admin_user),
        "key": make_api_key(workspace, role=ApiKeyRole.WRITE, name="Target")[0],
    }
    before = _snapshot()

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(PermissionDeniedError),
    ):
        REFUSED[service](workspace, actor, context)

    assert _snapshot() == before
    assert callbacks == []
    assert mail.outbox == []
