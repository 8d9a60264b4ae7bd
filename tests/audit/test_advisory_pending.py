"""What waits for the advisory lock (docs/adr/0009): the entries of sign-ins, retention purges
and exports made while the log is locked are stored in the transaction of their change,
shown as pending, and appended in order — keeping the time of their change — when the lock
lifts; the log verifies afterwards, however the lift and new changes interleave."""

import io
import json
import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from audit import export, selectors, services
from audit.advisory import QUEUED_MARK
from audit.canonical import rfc3339
from audit.exceptions import AuditLockedError, AuditPayloadError
from audit.models import AuditEntry, AuditLogHead, AuditPendingEntry
from destinations.retention.purge import retention_purge
from tests.audit.helpers import ACTOR, record_thing
from tests.audit_entries import audit_rows, material
from tests.factories import TEST_PASSWORD, MembershipFactory, event_with_operational_data
from tests.workspaces.helpers import activate_totp
from workspaces import services as workspace_services
from workspaces.models import ApiKey, Role


def verifies(workspace) -> bool:
    out = io.StringIO()
    call_command("audit", "verify", "--workspace", workspace.slug, "--json", stdout=out)
    return json.loads(out.getvalue())["chain_status"] == "valid"


def test_a_sign_in_waits_as_pending_and_is_appended_in_order_when_the_lock_lifts(
    client, admin_user, workspace, lock_key
):
    before = audit_rows(workspace)
    client.post(reverse("account_login"), {"login": admin_user.email, "password": TEST_PASSWORD})
    client.logout()
    client.post(reverse("account_login"), {"login": admin_user.email, "password": "wrong"})

    pending = list(selectors.audit_pending_list(workspace=workspace))
    assert [(p.seq, p.event_type) for p in pending] == [
        (1, "auth.sign_in_succeeded"),
        (2, "auth.sign_in_failed"),
    ]
    assert audit_rows(workspace) == before

    services.audit_advisory_lock_disable(workspace=workspace, actor=ACTOR, key=lock_key)

    *_, succeeded, failed, lifted = audit_rows(workspace)
    assert [succeeded.event_type, failed.event_type, lifted.event_type] == [
        "auth.sign_in_succeeded",
        "auth.sign_in_failed",
        "audit.advisory_lock_disabled",
    ]
    for entry, queued in zip((succeeded, failed), pending, strict=True):
        assert entry.timestamp == queued.timestamp  # the time of the change, not of the lift
        assert entry.actor == queued.actor
        assert material(entry)["timestamp"] == rfc3339(queued.timestamp)
        assert material(entry)["payload"][QUEUED_MARK] == {
            "seq": queued.seq,
            "queued_at": rfc3339(queued.timestamp),
        }
    assert material(succeeded)["payload"]["method"] == "password"
    assert material(lifted)["payload"] == {"pending_appended": 2}
    assert not selectors.audit_pending_list(workspace=workspace).exists()
    assert verifies(workspace)


def test_turning_on_mfa_under_the_lock_works_and_waits_but_turning_it_off_is_refused(
    client, admin_user, workspace, lock_key
):
    # Given a locked log, a member turns on an authenticator app (staff need one for the admin)
    activate_totp(client, admin_user)

    # Then it is on, and its entry waits with the sign-in before it
    assert admin_user.authenticator_set.filter(type="totp").exists()
    pending = [p.event_type for p in selectors.audit_pending_list(workspace=workspace)]
    assert pending == ["auth.sign_in_succeeded", "auth.mfa_enabled"]

    # But turning it off again is a change the lock refuses, and nothing more waits
    with pytest.raises(AuditLockedError):
        workspace_services.auth_mfa_changed(
            user=admin_user, enabled=False, authenticator_type="totp"
        )
    assert len(pending) == selectors.audit_pending_list(workspace=workspace).count()

    services.audit_advisory_lock_disable(workspace=workspace, actor=ACTOR, key=lock_key)
    assert [row.event_type for row in audit_rows(workspace)][-3:] == [
        "auth.sign_in_succeeded",
        "auth.mfa_enabled",
        "audit.advisory_lock_disabled",
    ]
    assert verifies(workspace)


def test_the_retention_purge_entry_is_pending_then_appended(workspace, lock_key):
    now = timezone.now()
    event_with_operational_data(workspace, "old", now - timedelta(days=31))

    retention_purge(workspace=workspace, actor=ACTOR, now=now)

    [pending] = selectors.audit_pending_list(workspace=workspace)
    assert pending.event_type == "events.operational_data_purged"
    services.audit_advisory_lock_disable(workspace=workspace, actor=ACTOR, key=lock_key)
    purge = AuditEntry.objects.get(workspace=workspace, event_type=pending.event_type)
    assert material(purge)["payload"]["rows"] == 1
    assert material(purge)["payload"][QUEUED_MARK]["seq"] == pending.seq
    assert verifies(workspace)


def test_a_scheduled_export_runs_and_its_entry_waits(workspace, admin_user, tmp_path, settings):
    settings.AUDIT_EXPORT_ROOT = tmp_path
    export.audit_export_config_update(
        workspace=workspace,
        actor=admin_user,
        values={"target": "directory", "directory": "exports", "prefix": "audit"},
    )
    services.audit_checkpoint_sign(workspace=workspace, actor=ACTOR)  # as the beat task does
    key = services.audit_advisory_lock_enable(workspace=workspace, actor=ACTOR)

    path = export.audit_export_attempt(workspace=workspace, actor=ACTOR)

    assert (tmp_path / workspace.public_id / path).exists()
    [pending] = selectors.audit_pending_list(workspace=workspace)
    assert pending.event_type == "audit.exported"
    services.audit_advisory_lock_disable(workspace=workspace, actor=ACTOR, key=key)
    assert AuditEntry.objects.filter(workspace=workspace, event_type="audit.exported").exists()
    assert verifies(workspace)


def test_the_audit_page_shows_what_is_pending(client, admin_user, workspace, lock_key):
    client.post(reverse("account_login"), {"login": admin_user.email, "password": TEST_PASSWORD})

    page = client.get(reverse("audit:log", args=[workspace.slug])).content.decode()

    assert "1 entry pending until the lock is lifted" in page
    section = page.split('data-testid="audit-pending"')[1].split("</table>")[0]
    assert "auth.sign_in_succeeded" in section and admin_user.display_name in section

    lifted = client.post(reverse("audit:unlock", args=[workspace.slug]), {"key": lock_key})
    assert b"1 pending entry appended" in lifted.content
    assert b"audit-pending" not in lifted.content


def test_other_changes_are_refused_and_leave_nothing_pending(workspace, lock_key):
    with pytest.raises(AuditLockedError):
        workspace_services.api_key_create(workspace=workspace, actor=ACTOR, name="x")
    assert not ApiKey.objects.filter(name="x").exists()
    assert not AuditPendingEntry.objects.filter(workspace=workspace).exists()


def test_a_queued_payload_is_checked_when_queued(workspace, lock_key):
    def record(payload):
        record_thing(
            workspace,
            event_type="auth.sign_in_failed",
            resource_type="user",
            resource_id="usr_x",
            payload=payload,
        )

    with pytest.raises(AuditPayloadError):
        record({"ratio": 1.5})  # no canonical form: refused with its change, as when unlocked
    with pytest.raises(AuditPayloadError):
        record({QUEUED_MARK: {"seq": 1}})  # nobody may pose as a queued entry
    assert not AuditPendingEntry.objects.filter(workspace=workspace).exists()


def test_pending_entries_cannot_be_changed_or_removed(admin_user, workspace, lock_key):
    workspace_services.auth_sign_in_failed(user=admin_user, reason="bad_credentials")
    pending = AuditPendingEntry.objects.get(workspace=workspace)

    for tamper in (
        lambda rows: rows.update(actor="system:nobody"),
        lambda rows: rows.delete(),
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            tamper(AuditPendingEntry.objects.filter(pk=pending.pk))
    assert AuditPendingEntry.objects.get(pk=pending.pk).actor == pending.actor


def test_appending_what_is_pending_twice_appends_it_once(admin_user, workspace, lock_key):
    workspace_services.auth_sign_in_failed(user=admin_user, reason="bad_credentials")
    with transaction.atomic():
        head = AuditLogHead.objects.select_for_update().get(workspace=workspace)
        assert len(services._pending_append(workspace=workspace, head=head)) == 1
        head = AuditLogHead.objects.select_for_update().get(workspace=workspace)
        assert services._pending_append(workspace=workspace, head=head) == []

    # a second lock starts from the mark: only what it queued is appended at its lift
    services.audit_advisory_lock_disable(workspace=workspace, actor=ACTOR, key=lock_key)
    second = services.audit_advisory_lock_enable(workspace=workspace, actor=ACTOR)
    workspace_services.auth_sign_in_failed(user=admin_user, reason="bad_credentials")
    appended = services.audit_advisory_lock_disable(workspace=workspace, actor=ACTOR, key=second)
    assert [material(e)["payload"].get(QUEUED_MARK, {}).get("seq") for e in appended] == [2, None]
    assert verifies(workspace)


@pytest.mark.django_db(transaction=True)
def test_changes_during_the_lift_keep_the_order_and_the_chain(workspace):
    """Members sign in on several threads while the lock is lifted on another: each sign-in
    is either queued before the lift (and appended by it) or appended after it — never lost,
    never twice, and the log verifies."""
    members = [
        MembershipFactory(workspace=workspace, role=Role.VIEWER, user__name=f"M{n}").user
        for n in range(4)
    ]
    key = services.audit_advisory_lock_enable(workspace=workspace, actor=ACTOR)
    for member in members * 5:  # queued before anything runs concurrently
        workspace_services.auth_sign_in_succeeded(user=member, method="password")
    start = len(audit_rows(workspace))
    rounds = 8
    errors = []

    def run(work):
        try:
            barrier.wait()
            work()
        except Exception as error:  # reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    def sign_ins(member):
        for _ in range(rounds):
            workspace_services.auth_sign_in_succeeded(user=member, method="password")

    def lift_the_lock():
        # in the middle of the sign-ins: once some of them have queued behind the first 20
        for _ in range(10_000):
            if AuditPendingEntry.objects.filter(workspace=workspace).count() > 20 + len(members):
                break
        services.audit_advisory_lock_disable(workspace=workspace, actor=ACTOR, key=key)

    threads = [threading.Thread(target=run, args=(lambda m=m: sign_ins(m),)) for m in members]
    threads.append(threading.Thread(target=run, args=(lift_the_lock,)))
    barrier = threading.Barrier(len(threads))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []

    entries = audit_rows(workspace)[start:]
    assert len(entries) == len(members) * (5 + rounds) + 1
    marks = [material(e)["payload"].get(QUEUED_MARK) for e in entries]
    lift = next(i for i, e in enumerate(entries) if e.event_type == "audit.advisory_lock_disabled")
    queued = AuditPendingEntry.objects.filter(workspace=workspace).count()
    # every queued entry, in queue order, right before the lifting; none after it
    assert [m["seq"] for m in marks[:lift]] == list(range(1, queued + 1))
    assert all(mark is None for mark in marks[lift + 1 :])
    assert AuditLogHead.objects.get(workspace=workspace).pending_appended_seq == queued
    for member in members:
        mine = AuditEntry.objects.filter(
            workspace=workspace,
            event_type="auth.sign_in_succeeded",
            actor=f"user:{member.public_id}",
        )
        assert mine.count() == 5 + rounds
    assert verifies(workspace)
