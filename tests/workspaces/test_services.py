"""Each workspace service: the change it makes and the audit entry it writes with it.

Audit payloads name people and keys by public id only; every entry checked here is also
checked for e-mail addresses and for the secrets the service handled.
"""

import datetime as dt
import hashlib

import pytest
from django.conf import settings
from django.core import mail
from django.db import transaction
from django.utils import timezone

from audit.models import AuditEntry, AuditLogHead
from tests.audit_entries import audit_rows, material
from tests.factories import MembershipFactory, UserFactory, WorkspaceFactory
from tracklayer.exceptions import ConflictError, DomainError
from workspaces import keys, services
from workspaces.api_key_cache import api_key_cache_get
from workspaces.auth.api_keys import api_key_authenticate
from workspaces.exceptions import AlreadyMemberError, InvitationInvalidError, LastAdminError
from workspaces.models import ApiKey, ApiKeyRole, Invitation, Membership, Role, User, Workspace
from workspaces.regions import workspace_db
from workspaces.residency import RegionPinnedError

pytestmark = pytest.mark.django_db


# --- helpers -----------------------------------------------------------------------------------


def audit_size(workspace) -> int:
    return AuditLogHead.objects.get(workspace=workspace).size


def assert_discloses_nothing(entry: AuditEntry, *secrets: str) -> None:
    """No e-mail address (nor anything else with an @) and none of ``secrets`` in the bytes
    that are hashed and kept forever."""
    hashed = bytes(entry.material).decode()
    assert "@" not in hashed
    for secret in secrets:
        assert secret not in hashed


def only_entry(workspace, mark: int) -> AuditEntry:
    (entry,) = audit_rows(workspace, since=mark)
    assert_discloses_nothing(entry)
    return entry


def membership(workspace, user) -> Membership:
    return Membership.objects.get(workspace=workspace, user=user)


# --- Workspaces ------------------------------------------------------------------------------


def test_workspace_create_opens_the_log_and_records_creation_and_owner(system_actor):
    owner = UserFactory()

    workspace = services.workspace_create(
        actor=system_actor, name="Acme Store", region="eu", owner=owner
    )

    assert workspace.slug == "acme-store"
    assert membership(workspace, owner).role == Role.ADMIN
    head = AuditLogHead.objects.get(workspace=workspace)
    assert head.origin == f"{settings.TRACKLAYER_AUDIT_ORIGIN}/{workspace.public_id}"
    created, joined = audit_rows(workspace, since=0)
    assert (created.idx, created.event_type) == (0, "workspace.created")
    assert (created.resource_type, created.resource_id) == ("workspace", workspace.public_id)
    assert created.actor == "system:tests"
    assert material(created)["payload"] == {
        "name": "Acme Store",
        "slug": "acme-store",
        "region": "eu",
    }
    assert (joined.idx, joined.event_type) == (1, "member.joined")
    assert (joined.resource_type, joined.resource_id) == ("user", owner.public_id)
    assert material(joined)["payload"] == {"role": "admin", "invitation": None}
    for entry in (created, joined):
        assert_discloses_nothing(entry)


def test_workspace_create_without_owner_records_only_the_creation(system_actor):
    workspace = services.workspace_create(actor=system_actor, name="Ownerless", owner=None)

    assert not workspace.memberships.exists()
    assert [e.event_type for e in audit_rows(workspace, since=0)] == ["workspace.created"]


def test_workspace_create_derives_a_free_slug_from_the_name():
    first = WorkspaceFactory(name="Acme")
    second = WorkspaceFactory(name="Acme")

    assert (first.slug, second.slug) == ("acme", "acme-2")


def test_workspace_create_refuses_a_taken_slug_and_leaves_nothing(system_actor):
    WorkspaceFactory(slug="acme")
    counts = (Workspace.objects.count(), AuditLogHead.objects.count(), AuditEntry.objects.count())

    with pytest.raises(ConflictError) as caught:
        services.workspace_create(actor=system_actor, name="Other", slug="acme", owner=None)

    assert caught.value.field == "slug"
    after = (Workspace.objects.count(), AuditLogHead.objects.count(), AuditEntry.objects.count())
    assert after == counts


def test_workspace_create_refuses_an_unknown_region(system_actor):
    with pytest.raises(DomainError) as caught:
        services.workspace_create(actor=system_actor, name="Mars", region="mars", owner=None)

    assert caught.value.field == "region"
    assert not Workspace.objects.exists()


def test_workspace_update_renames_and_records_before_and_after(workspace, admin_user):
    mark = audit_size(workspace)

    services.workspace_update(workspace=workspace, actor=admin_user, name="Acme Europe")

    workspace.refresh_from_db()
    assert workspace.name == "Acme Europe"
    entry = only_entry(workspace, mark)
    assert entry.event_type == "workspace.updated"
    assert entry.resource_id == workspace.public_id
    assert entry.actor == f"user:{admin_user.public_id}"
    assert material(entry)["payload"] == {
        "changes": {"name": {"before": "Acme", "after": "Acme Europe"}}
    }


def test_workspace_create_places_the_workspace_in_the_region_chosen(system_actor):
    workspace = services.workspace_create(
        actor=system_actor, name="Acme EU", region="eu", owner=None
    )

    assert Workspace.objects.get(pk=workspace.pk).region == "eu"
    assert workspace_db(workspace) == "region_eu"


@pytest.mark.parametrize("region", ["eu", "mars"])
def test_workspace_update_refuses_another_region_and_changes_nothing(workspace, admin_user, region):
    mark = audit_size(workspace)

    with pytest.raises(RegionPinnedError) as caught:
        services.workspace_update(
            workspace=workspace, actor=admin_user, name="Acme Europe", region=region
        )

    error = caught.value
    assert (error.code, error.status, error.field) == ("region_pinned", 409, "region")
    assert "tracklayer workspace move-region" in error.message
    workspace.refresh_from_db()
    assert (workspace.region, workspace.name) == ("us", "Acme")
    assert audit_rows(workspace, since=mark) == []


def test_workspace_update_takes_the_region_it_has(workspace, admin_user):
    """A form or a client sending the whole workspace back names its own region: that is
    no change, and the rename goes through."""
    services.workspace_update(workspace=workspace, actor=admin_user, name="Acme US", region="us")

    workspace.refresh_from_db()
    assert (workspace.region, workspace.name) == ("us", "Acme US")


def test_workspace_update_with_the_same_name_records_nothing(workspace, admin_user):
    mark = audit_size(workspace)

    services.workspace_update(workspace=workspace, actor=admin_user, name=workspace.name)

    assert audit_rows(workspace, since=mark) == []


# --- Invitations -------------------------------------------------------------------------------


def test_member_invite_stores_only_the_token_hash_and_mails_the_link_on_commit(
    workspace, admin_user, django_capture_on_commit_callbacks
):
    mark = audit_size(workspace)

    with django_capture_on_commit_callbacks() as callbacks:
        invitation, token = services.member_invite(
            workspace=workspace, actor=admin_user, email=" New.Person@Example.TEST", role="editor"
        )
        # Nothing leaves before the transaction commits.
        assert mail.outbox == []

    assert invitation.email == "new.person@example.test"
    assert invitation.role == Role.EDITOR
    assert invitation.invited_by == admin_user
    assert invitation.is_pending
    assert invitation.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert not Invitation.objects.filter(token_hash=token).exists()
    lifetime = dt.timedelta(days=settings.INVITATION_LIFETIME_DAYS)
    assert abs(invitation.expires_at - (timezone.now() + lifetime)) < dt.timedelta(minutes=1)

    entry = only_entry(workspace, mark)
    assert_discloses_nothing(entry, token, invitation.token_hash)
    assert entry.event_type == "member.invited"
    assert (entry.resource_type, entry.resource_id) == ("invitation", invitation.public_id)
    assert material(entry)["payload"] == {
        "role": "editor",
        "expires_at": invitation.expires_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }

    for callback in callbacks:
        callback()
    (message,) = mail.outbox
    assert message.to == ["new.person@example.test"]
    assert f"{settings.TRACKLAYER_BASE_URL}/invitations/{token}/" in message.body
    assert workspace.name in message.subject


def test_member_invite_rolled_back_leaves_no_invitation_and_sends_no_mail(
    workspace, admin_user, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        services.member_invite(
            workspace=workspace, actor=admin_user, email="a@example.test", role="viewer"
        )
        raise RuntimeError("the surrounding request failed")

    assert callbacks == []
    assert mail.outbox == []
    assert not Invitation.objects.exists()


def test_member_invite_replaces_a_pending_invitation(
    workspace, admin_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first, first_token = services.member_invite(
            workspace=workspace, actor=admin_user, email="sam@example.test", role="viewer"
        )
    mark = audit_size(workspace)

    with django_capture_on_commit_callbacks(execute=True):
        second, second_token = services.member_invite(
            workspace=workspace, actor=admin_user, email="SAM@example.test", role="editor"
        )

    first.refresh_from_db()
    assert first.revoked_at is not None
    assert second.is_pending
    revoked, invited = audit_rows(workspace, since=mark)
    assert (revoked.event_type, revoked.resource_id) == (
        "member.invitation_revoked",
        first.public_id,
    )
    assert (invited.event_type, invited.resource_id) == ("member.invited", second.public_id)
    for entry in (revoked, invited):
        assert_discloses_nothing(entry, first_token, second_token)
    assert [m.to for m in mail.outbox] == [["sam@example.test"], ["sam@example.test"]]
    # The first link is dead; the second one works.
    sam = UserFactory(email="sam@example.test")
    with pytest.raises(InvitationInvalidError):
        services.invitation_accept(token=first_token, user=sam)
    assert services.invitation_accept(token=second_token, user=sam).role == Role.EDITOR


def test_member_invite_replaces_an_expired_unused_invitation(workspace, admin_user):
    first, _ = services.member_invite(
        workspace=workspace, actor=admin_user, email="sam@example.test", role="viewer"
    )
    Invitation.objects.filter(pk=first.pk).update(expires_at=timezone.now() - dt.timedelta(days=1))

    second, _ = services.member_invite(
        workspace=workspace, actor=admin_user, email="sam@example.test", role="viewer"
    )

    first.refresh_from_db()
    assert first.revoked_at is not None
    assert second.is_pending


def test_member_invite_refuses_an_existing_member(workspace, admin_user, viewer_user):
    mark = audit_size(workspace)

    with pytest.raises(AlreadyMemberError):
        services.member_invite(
            workspace=workspace, actor=admin_user, email=viewer_user.email.upper(), role="editor"
        )

    assert not Invitation.objects.exists()
    assert audit_rows(workspace, since=mark) == []


def test_member_invite_refuses_an_unknown_role(workspace, admin_user):
    with pytest.raises(DomainError) as caught:
        services.member_invite(
            workspace=workspace, actor=admin_user, email="a@example.test", role="owner"
        )

    assert caught.value.field == "role"
    assert not Invitation.objects.exists()


def test_invitation_accept_makes_the_invited_person_a_member(workspace, admin_user):
    invitation, token = services.member_invite(
        workspace=workspace, actor=admin_user, email="Sam@Example.test", role="editor"
    )
    sam = UserFactory(email="sam@example.test")
    mark = audit_size(workspace)

    joined = services.invitation_accept(token=token, user=sam)

    assert (joined.workspace, joined.user, joined.role) == (workspace, sam, Role.EDITOR)
    invitation.refresh_from_db()
    assert invitation.accepted_by == sam
    assert invitation.accepted_at is not None
    entry = only_entry(workspace, mark)
    assert_discloses_nothing(entry, token)
    assert entry.event_type == "member.joined"
    assert (entry.resource_type, entry.resource_id) == ("user", sam.public_id)
    assert entry.actor == f"user:{sam.public_id}"
    assert material(entry)["payload"] == {"role": "editor", "invitation": invitation.public_id}


def test_invitation_accept_refuses_another_email_address(workspace, admin_user):
    _, token = services.member_invite(
        workspace=workspace, actor=admin_user, email="sam@example.test", role="editor"
    )
    mallory = UserFactory(email="mallory@example.test")
    mark = audit_size(workspace)

    with pytest.raises(InvitationInvalidError, match="another e-mail address"):
        services.invitation_accept(token=token, user=mallory)

    assert not Membership.objects.filter(user=mallory).exists()
    assert Invitation.objects.get().is_pending
    assert audit_rows(workspace, since=mark) == []


def test_invitation_accept_refuses_an_expired_invitation(workspace, admin_user):
    invitation, token = services.member_invite(
        workspace=workspace, actor=admin_user, email="sam@example.test", role="editor"
    )
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now())
    sam = UserFactory(email="sam@example.test")

    with pytest.raises(InvitationInvalidError):
        services.invitation_accept(token=token, user=sam)

    assert not Membership.objects.filter(user=sam).exists()


def test_invitation_accept_works_once(workspace, admin_user, viewer_user):
    _, token = services.member_invite(
        workspace=workspace, actor=admin_user, email="sam@example.test", role="editor"
    )
    sam = UserFactory(email="sam@example.test")
    services.invitation_accept(token=token, user=sam)
    membership(workspace, sam).delete()  # even after leaving, the link stays used
    mark = audit_size(workspace)

    with pytest.raises(InvitationInvalidError):
        services.invitation_accept(token=token, user=sam)

    assert not Membership.objects.filter(workspace=workspace, user=sam).exists()
    assert audit_rows(workspace, since=mark) == []


def test_invitation_accept_refuses_a_revoked_invitation(workspace, admin_user):
    invitation, token = services.member_invite(
        workspace=workspace, actor=admin_user, email="sam@example.test", role="editor"
    )
    mark = audit_size(workspace)
    services.invitation_revoke(workspace=workspace, actor=admin_user, invitation=invitation)
    sam = UserFactory(email="sam@example.test")

    with pytest.raises(InvitationInvalidError):
        services.invitation_accept(token=token, user=sam)

    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    entry = only_entry(workspace, mark)
    assert (entry.event_type, entry.resource_id) == (
        "member.invitation_revoked",
        invitation.public_id,
    )
    assert material(entry)["payload"] == {}


def test_invitation_revoke_refuses_an_invitation_no_longer_pending(workspace, admin_user):
    invitation, _ = services.member_invite(
        workspace=workspace, actor=admin_user, email="sam@example.test", role="editor"
    )
    services.invitation_revoke(workspace=workspace, actor=admin_user, invitation=invitation)

    with pytest.raises(InvitationInvalidError):
        services.invitation_revoke(workspace=workspace, actor=admin_user, invitation=invitation)


def test_invitation_find_refuses_an_unknown_token():
    with pytest.raises(InvitationInvalidError):
        services.invitation_find(token="not-a-token")


def test_invitation_accept_new_user_creates_the_account_with_the_invited_address(
    workspace, admin_user
):
    invitation, token = services.member_invite(
        workspace=workspace, actor=admin_user, email="sam@example.test", role="viewer"
    )
    mark = audit_size(workspace)

    joined = services.invitation_accept_new_user(
        token=token, password="a long enough passphrase", name="Sam"
    )

    sam = User.objects.get(email="sam@example.test")
    assert sam.name == "Sam"
    assert sam.check_password("a long enough passphrase")
    assert (joined.user, joined.role) == (sam, Role.VIEWER)
    invitation.refresh_from_db()
    assert invitation.accepted_by == sam
    entry = only_entry(workspace, mark)
    assert (entry.event_type, entry.resource_id) == ("member.joined", sam.public_id)


def test_invitation_accept_new_user_refuses_when_the_account_exists(workspace, admin_user):
    _, token = services.member_invite(
        workspace=workspace, actor=admin_user, email="sam@example.test", role="viewer"
    )
    UserFactory(email="sam@example.test")

    with pytest.raises(InvitationInvalidError, match="sign in"):
        services.invitation_accept_new_user(token=token, password="a long enough passphrase")

    assert User.objects.filter(email="sam@example.test").count() == 1
    assert Invitation.objects.get().is_pending


# --- Members -----------------------------------------------------------------------------------


def test_member_add_adds_an_existing_account(workspace, admin_user):
    sam = UserFactory()
    mark = audit_size(workspace)

    added = services.member_add(workspace=workspace, actor=admin_user, user=sam, role="editor")

    assert membership(workspace, sam) == added
    assert added.role == Role.EDITOR
    entry = only_entry(workspace, mark)
    assert (entry.event_type, entry.resource_id) == ("member.joined", sam.public_id)
    assert entry.actor == f"user:{admin_user.public_id}"
    assert material(entry)["payload"] == {"role": "editor", "invitation": None}


def test_member_add_refuses_a_member(workspace, admin_user, viewer_user):
    mark = audit_size(workspace)

    with pytest.raises(AlreadyMemberError):
        services.member_add(workspace=workspace, actor=admin_user, user=viewer_user, role="admin")

    assert membership(workspace, viewer_user).role == Role.VIEWER
    assert audit_rows(workspace, since=mark) == []


def test_membership_change_role_records_before_and_after(workspace, admin_user, editor_user):
    mark = audit_size(workspace)

    services.membership_change_role(
        workspace=workspace,
        actor=admin_user,
        membership=membership(workspace, editor_user),
        role="viewer",
    )

    assert membership(workspace, editor_user).role == Role.VIEWER
    entry = only_entry(workspace, mark)
    assert (entry.event_type, entry.resource_id) == ("member.role_changed", editor_user.public_id)
    assert material(entry)["payload"] == {"role": {"before": "editor", "after": "viewer"}}


def test_membership_change_role_to_the_same_role_records_nothing(
    workspace, admin_user, editor_user
):
    mark = audit_size(workspace)

    services.membership_change_role(
        workspace=workspace,
        actor=admin_user,
        membership=membership(workspace, editor_user),
        role="editor",
    )

    assert audit_rows(workspace, since=mark) == []


def test_membership_change_role_keeps_the_last_admin(workspace, admin_user):
    mark = audit_size(workspace)

    with pytest.raises(LastAdminError):
        services.membership_change_role(
            workspace=workspace,
            actor=admin_user,
            membership=membership(workspace, admin_user),
            role="editor",
        )

    assert membership(workspace, admin_user).role == Role.ADMIN
    assert audit_rows(workspace, since=mark) == []


def test_membership_change_role_lets_an_admin_step_down_when_another_remains(workspace, admin_user):
    MembershipFactory(workspace=workspace, role=Role.ADMIN)

    services.membership_change_role(
        workspace=workspace,
        actor=admin_user,
        membership=membership(workspace, admin_user),
        role="viewer",
    )

    assert membership(workspace, admin_user).role == Role.VIEWER


def test_membership_change_role_refuses_an_unknown_role(workspace, admin_user, editor_user):
    with pytest.raises(DomainError):
        services.membership_change_role(
            workspace=workspace,
            actor=admin_user,
            membership=membership(workspace, editor_user),
            role="owner",
        )

    assert membership(workspace, editor_user).role == Role.EDITOR


def test_membership_remove_by_an_admin(workspace, admin_user, viewer_user):
    mark = audit_size(workspace)

    services.membership_remove(
        workspace=workspace, actor=admin_user, membership=membership(workspace, viewer_user)
    )

    assert not Membership.objects.filter(workspace=workspace, user=viewer_user).exists()
    assert User.objects.filter(pk=viewer_user.pk).exists()
    entry = only_entry(workspace, mark)
    assert (entry.event_type, entry.resource_id) == ("member.removed", viewer_user.public_id)
    assert entry.actor == f"user:{admin_user.public_id}"
    assert material(entry)["payload"] == {"role": "viewer"}


def test_membership_remove_lets_any_member_leave(workspace, viewer_user):
    mark = audit_size(workspace)

    services.membership_remove(
        workspace=workspace, actor=viewer_user, membership=membership(workspace, viewer_user)
    )

    assert not Membership.objects.filter(workspace=workspace, user=viewer_user).exists()
    entry = only_entry(workspace, mark)
    assert (entry.event_type, entry.resource_id) == ("member.left", viewer_user.public_id)
    assert entry.actor == f"user:{viewer_user.public_id}"


def test_membership_remove_keeps_the_last_admin_even_when_leaving(workspace, admin_user):
    mark = audit_size(workspace)

    with pytest.raises(LastAdminError):
        services.membership_remove(
            workspace=workspace, actor=admin_user, membership=membership(workspace, admin_user)
        )

    assert membership(workspace, admin_user).role == Role.ADMIN
    assert audit_rows(workspace, since=mark) == []


def test_membership_remove_of_one_of_two_admins(workspace, admin_user):
    second_admin = MembershipFactory(workspace=workspace, role=Role.ADMIN).user

    services.membership_remove(
        workspace=workspace, actor=admin_user, membership=membership(workspace, second_admin)
    )

    assert list(workspace.memberships.values_list("user", flat=True)) == [admin_user.pk]


# --- API keys ----------------------------------------------------------------------------------


def test_api_key_create_returns_the_only_copy_of_the_secret(workspace, admin_user):
    mark = audit_size(workspace)

    key, token = services.api_key_create(
        workspace=workspace, actor=admin_user, name="  Storefront ", role="viewer"
    )

    parsed = keys.parse_token(token)
    assert parsed is not None
    assert (parsed.environment, parsed.prefix) == ("live", key.prefix)
    assert keys.check_secret(parsed.secret, key.secret_hash)
    assert parsed.secret not in key.secret_hash
    assert (key.name, key.role, key.created_by) == ("Storefront", "viewer", admin_user)
    lifetime = dt.timedelta(days=settings.API_KEY_DEFAULT_LIFETIME_DAYS)
    assert abs(key.expires_at - (timezone.now() + lifetime)) < dt.timedelta(minutes=1)

    entry = only_entry(workspace, mark)
    assert_discloses_nothing(entry, parsed.secret, key.secret_hash)
    assert (entry.event_type, entry.resource_type) == ("api_key.created", "api_key")
    assert entry.resource_id == key.public_id
    assert material(entry)["payload"] == {
        "name": "Storefront",
        "prefix": f"tl_live_{key.prefix}",
        "role": "viewer",
        "environment": "live",
        "expires_at": key.expires_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }


def test_api_key_create_without_expiry(workspace, admin_user):
    key, _ = services.api_key_create(
        workspace=workspace, actor=admin_user, name="CI", environment="test", expires_at=None
    )

    assert key.expires_at is None
    assert key.display_prefix.startswith("tl_test_")


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"name": "   "}, "name"),
        ({"role": "root"}, "role"),
        ({"environment": "prod"}, "environment"),
        ({"expires_at": dt.datetime(2000, 1, 1, tzinfo=dt.UTC)}, "expires_at"),
    ],
)
def test_api_key_create_refuses_invalid_options(workspace, admin_user, options, field):
    mark = audit_size(workspace)

    with pytest.raises(DomainError) as caught:
        services.api_key_create(
            workspace=workspace, actor=admin_user, **{"name": "Storefront", **options}
        )

    assert caught.value.field == field
    assert not ApiKey.objects.exists()
    assert audit_rows(workspace, since=mark) == []


def test_api_key_rotate_issues_a_successor_and_keeps_the_old_key_for_the_grace(
    workspace, admin_user
):
    old, old_token = services.api_key_create(
        workspace=workspace, actor=admin_user, name="Storefront", role=ApiKeyRole.WRITE
    )
    lifetime = old.expires_at - old.created_at
    mark = audit_size(workspace)
    started = timezone.now()

    new, new_token = services.api_key_rotate(
        workspace=workspace, actor=admin_user, key=old, grace=dt.timedelta(hours=1)
    )

    old.refresh_from_db()
    assert (new.name, new.role, new.environment) == (old.name, old.role, old.environment)
    assert new.rotated_from == old
    assert new.prefix != old.prefix
    assert keys.parse_token(new_token).prefix == new.prefix
    assert abs(new.expires_at - (started + lifetime)) < dt.timedelta(minutes=1)
    assert abs(old.expires_at - (started + dt.timedelta(hours=1))) < dt.timedelta(minutes=1)
    assert old.revoked_at is None

    entry = only_entry(workspace, mark)
    assert_discloses_nothing(
        entry,
        keys.parse_token(old_token).secret,
        keys.parse_token(new_token).secret,
        new.secret_hash,
    )
    assert (entry.event_type, entry.resource_id) == ("api_key.rotated", old.public_id)
    payload = material(entry)["payload"]
    assert payload["successor"] == new.public_id
    assert payload["grace_seconds"] == 3600
    assert payload["successor_key"]["prefix"] == new.display_prefix


def test_api_key_rotate_with_no_grace_expires_the_old_key_now(workspace, admin_user):
    old, _ = services.api_key_create(workspace=workspace, actor=admin_user, name="Storefront")

    services.api_key_rotate(workspace=workspace, actor=admin_user, key=old, grace=dt.timedelta(0))

    old.refresh_from_db()
    assert old.state() == "expired"


def test_api_key_rotate_never_extends_the_old_key(workspace, admin_user):
    soon = timezone.now() + dt.timedelta(hours=1)
    old, _ = services.api_key_create(
        workspace=workspace, actor=admin_user, name="Storefront", expires_at=soon
    )

    services.api_key_rotate(
        workspace=workspace, actor=admin_user, key=old, grace=dt.timedelta(days=7)
    )

    old.refresh_from_db()
    assert old.expires_at == soon


def test_api_key_rotate_refuses_a_negative_grace(workspace, admin_user):
    old, _ = services.api_key_create(workspace=workspace, actor=admin_user, name="Storefront")

    with pytest.raises(DomainError):
        services.api_key_rotate(
            workspace=workspace, actor=admin_user, key=old, grace=dt.timedelta(seconds=-1)
        )

    assert ApiKey.objects.count() == 1


def test_api_key_rotate_refuses_a_revoked_key(workspace, admin_user):
    old, _ = services.api_key_create(workspace=workspace, actor=admin_user, name="Storefront")
    services.api_key_revoke(workspace=workspace, actor=admin_user, key=old)
    mark = audit_size(workspace)

    with pytest.raises(ConflictError):
        services.api_key_rotate(
            workspace=workspace, actor=admin_user, key=old, grace=dt.timedelta(hours=1)
        )

    assert ApiKey.objects.count() == 1
    assert audit_rows(workspace, since=mark) == []


def test_api_key_rotate_refuses_a_key_already_rotated(workspace, admin_user):
    old, _ = services.api_key_create(workspace=workspace, actor=admin_user, name="Storefront")
    services.api_key_rotate(
        workspace=workspace, actor=admin_user, key=old, grace=dt.timedelta(hours=1)
    )
    mark = audit_size(workspace)

    # The old key still works (grace), so it is still offered for rotation.
    with pytest.raises(ConflictError, match="rotated already"):
        services.api_key_rotate(
            workspace=workspace, actor=admin_user, key=old, grace=dt.timedelta(hours=1)
        )

    assert ApiKey.objects.count() == 2
    assert audit_rows(workspace, since=mark) == []


def test_api_key_revoke_records_and_drops_the_cached_verification(
    workspace, admin_user, django_capture_on_commit_callbacks
):
    key, token = services.api_key_create(workspace=workspace, actor=admin_user, name="Storefront")
    api_key_authenticate(token)
    assert api_key_cache_get(key.prefix) is not None
    mark = audit_size(workspace)

    with django_capture_on_commit_callbacks(execute=True):
        services.api_key_revoke(workspace=workspace, actor=admin_user, key=key)

    key.refresh_from_db()
    assert key.revoked_at is not None
    assert key.state() == "revoked"
    assert api_key_cache_get(key.prefix) is None
    entry = only_entry(workspace, mark)
    assert_discloses_nothing(entry, keys.parse_token(token).secret)
    assert (entry.event_type, entry.resource_id) == ("api_key.revoked", key.public_id)
    assert material(entry)["payload"] == {"prefix": key.display_prefix}


def test_api_key_revoke_twice_is_refused(workspace, admin_user):
    key, _ = services.api_key_create(workspace=workspace, actor=admin_user, name="Storefront")
    services.api_key_revoke(workspace=workspace, actor=admin_user, key=key)
    mark = audit_size(workspace)

    with pytest.raises(ConflictError):
        services.api_key_revoke(workspace=workspace, actor=admin_user, key=key)

    assert audit_rows(workspace, since=mark) == []


def test_api_key_services_do_not_reach_into_another_workspace(
    workspace, make_api_key, other_workspace, other_admin_user
):
    foreign, _ = make_api_key(workspace)

    with pytest.raises(ApiKey.DoesNotExist):
        services.api_key_revoke(workspace=other_workspace, actor=other_admin_user, key=foreign)

    foreign.refresh_from_db()
    assert foreign.revoked_at is None
