"""The advisory lock guards the log, not access: once on, nothing — no person, key or worker
— appends without the key. Changes to the workspace are refused; sign-ins, retention purges
and exports go on, their entries waiting until the lock lifts (docs/adr/0009; what waits is
tested in test_advisory_pending.py). Only the original key lifts it."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audit import services
from audit.advisory import advisory_key
from audit.exceptions import AdvisoryKeyInvalidError, AuditLockedError
from audit.models import AuditEntry, AuditLogHead
from audit.tasks import audit_verify
from destinations.models import EventOperational
from destinations.retention.purge import retention_purge
from tests.audit_entries import audit_count, last_row
from tests.factories import event_with_operational_data
from tests.workspaces.helpers import sign_in
from workspaces import services as workspace_services
from workspaces.actors import SystemActor
from workspaces.models import ApiKey, ApiKeyRole, Membership

ACTOR = SystemActor("tests")


def test_enabling_records_it_and_keeps_only_a_hash(workspace, lock_key):
    head = AuditLogHead.objects.get(workspace=workspace)
    assert lock_key.startswith("tlal_") and len(lock_key) > 40
    assert head.advisory_key_hash and lock_key not in head.advisory_key_hash
    last = last_row(workspace)
    assert last.event_type == "audit.advisory_lock_enabled"
    assert lock_key.encode() not in bytes(last.material)


def test_changes_to_the_workspace_are_still_refused(workspace, lock_key):
    before, keys = audit_count(workspace), ApiKey.objects.count()

    with pytest.raises(AuditLockedError):
        workspace_services.api_key_create(workspace=workspace, actor=ACTOR, name="x")
    with pytest.raises(AuditLockedError):
        workspace_services.workspace_update(workspace=workspace, actor=ACTOR, name="Renamed")

    assert (audit_count(workspace), ApiKey.objects.count()) == (before, keys)
    workspace.refresh_from_db()
    assert workspace.name != "Renamed"  # nothing unaudited happened


def test_workers_are_refused_too_but_checkpoints_still_get_signed(workspace):
    services.audit_checkpoint_sign(workspace=workspace, actor=ACTOR)  # the key exists
    lock_key = services.audit_advisory_lock_enable(workspace=workspace, actor=ACTOR)
    before = audit_count(workspace)

    audit_verify(workspace.pk)  # the daily task: verifies, cannot record, does not crash
    assert audit_count(workspace) == before

    with advisory_key(lock_key):  # the key holder's own append
        services.audit_customer_event_record(
            workspace=workspace, actor=ACTOR, event_type="x", resource_id="1", payload={}
        )
    checkpoint = services.audit_checkpoint_sign(workspace=workspace, actor=ACTOR)
    assert checkpoint.size == before + 1


def test_only_the_original_key_lifts_it(workspace, lock_key):
    with pytest.raises(AdvisoryKeyInvalidError):
        services.audit_advisory_lock_disable(workspace=workspace, actor=ACTOR, key="tlal_guess")

    services.audit_advisory_lock_disable(workspace=workspace, actor=ACTOR, key=lock_key)

    last = last_row(workspace)
    assert last.event_type == "audit.advisory_lock_disabled"
    workspace_services.workspace_update(workspace=workspace, actor=ACTOR, name="Renamed")


def test_the_api_appends_only_with_the_key_header(api_client, workspace, make_api_key):
    _key, token = make_api_key(workspace, role=ApiKeyRole.AUDIT)
    lock_key = services.audit_advisory_lock_enable(workspace=workspace, actor=ACTOR)
    body = {"event_type": "order.refunded", "resource_id": "ord_1", "payload": {"cents": 1250}}
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}

    refused = api_client.post("/v1/audit/events", body, format="json", **auth)
    wrong = api_client.post(
        "/v1/audit/events", body, format="json", HTTP_X_ADVISORY_KEY="tlal_x", **auth
    )
    accepted = api_client.post(
        "/v1/audit/events", body, format="json", HTTP_X_ADVISORY_KEY=lock_key, **auth
    )

    assert refused.status_code == wrong.status_code == 403
    assert refused.json()["error"]["code"] == "advisory_lock_enabled"
    assert accepted.status_code == 201, accepted.json()
    entry = AuditEntry.objects.get(workspace=workspace, idx=accepted.json()["idx"])
    assert entry.event_type == "custom.order.refunded"
    assert entry.actor.startswith("api_key:")


def test_customer_events_are_validated_field_by_field(api_client, workspace, make_api_key):
    _key, token = make_api_key(workspace, role=ApiKeyRole.AUDIT)
    response = api_client.post(
        "/v1/audit/events",
        {"event_type": "Bad Type", "payload": {"amount": 1.5}},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"event_type", "resource_id"}

    floats = api_client.post(
        "/v1/audit/events",
        {"event_type": "ok", "resource_id": "r", "payload": {"amount": 1.5}},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert floats.status_code == 400
    assert floats.json()["error"]["code"] == "audit_payload_invalid"


# --- Issue 11, finding 10: the lock locked people out and stopped a legal obligation ---------


def test_a_member_signs_in_while_locked(client, admin_user, workspace, lock_key):
    response = sign_in(client, admin_user.email)

    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:home")
    assert client.session["_auth_user_id"] == str(admin_user.pk)
    page = client.get(response["Location"], follow=True).content.decode()
    assert "Successfully signed in" in page  # one message, and it is the true one
    assert "refused" not in page


def without_csrf(body: bytes) -> str:
    # the page's CSRF tokens (form field and htmx header) are masked anew on every render
    return re.sub(r"\b[A-Za-z0-9]{64}\b", "<csrf>", body.decode())


def test_a_wrong_password_answers_as_it_does_without_the_lock(client, admin_user, workspace):
    unlocked = sign_in(client, admin_user.email, "wrong password")
    services.audit_advisory_lock_enable(workspace=workspace, actor=ACTOR)
    locked = sign_in(client, admin_user.email, "wrong password")

    assert locked.status_code == unlocked.status_code == 200
    assert without_csrf(locked.content) == without_csrf(unlocked.content)
    assert "_auth_user_id" not in client.session


def test_the_retention_purge_runs_while_locked(workspace, lock_key):
    now = timezone.now()
    old = event_with_operational_data(workspace, "old", now - timedelta(days=31))
    before = audit_count(workspace)

    removed = retention_purge(workspace=workspace, actor=ACTOR, now=now)

    assert removed.recorded
    assert removed.purged == {
        "events": 0,
        "operational": 1,
        "message_ids": 1,
        "deliveries": 0,
        "attempts": 0,
        "rejected": 0,
    }
    assert not EventOperational.objects.for_workspace(workspace).filter(event=old).exists()
    assert audit_count(workspace) == before  # its entry waits for the lift, outside the log


def test_an_admin_who_just_signed_in_lifts_the_lock_from_the_dashboard(
    client, admin_user, workspace, lock_key
):
    assert sign_in(client, admin_user.email).status_code == 302
    page = client.get(reverse("audit:log", args=[workspace.slug]))
    assert page.status_code == 200 and b"Lift the lock" in page.content

    lifted = client.post(reverse("audit:unlock", args=[workspace.slug]), {"key": lock_key})

    assert lifted.status_code == 200 and b"Advisory lock lifted" in lifted.content
    assert not AuditLogHead.objects.get(workspace=workspace).advisory_key_hash
    *_, sign_in_entry, lifting = AuditEntry.objects.filter(workspace=workspace).order_by("idx")
    assert (sign_in_entry.event_type, sign_in_entry.actor) == (
        "auth.sign_in_succeeded",
        f"user:{admin_user.public_id}",
    )
    assert lifting.event_type == "audit.advisory_lock_disabled"


def test_dashboard_enable_shows_the_key_once_and_unlock_lifts_it(client, admin_user, workspace):
    client.force_login(admin_user)
    page = client.post(reverse("audit:lock", args=[workspace.slug]), HTTP_HX_REQUEST="true")
    key = page.content.decode().split('<code id="advisory-key">')[1].split("<")[0]
    assert key.startswith("tlal_")

    again = client.get(reverse("audit:log", args=[workspace.slug]))
    assert key not in again.content.decode() and b"Advisory lock on" in again.content

    wrong = client.post(reverse("audit:unlock", args=[workspace.slug]), {"key": "nope"})
    assert wrong.status_code == 409
    client.post(reverse("audit:unlock", args=[workspace.slug]), {"key": key})
    assert not AuditLogHead.objects.get(workspace=workspace).advisory_key_hash


def test_an_unhandled_refusal_in_the_dashboard_is_a_clear_page(
    client, admin_user, editor_user, workspace
):
    client.force_login(admin_user)
    services.audit_advisory_lock_enable(workspace=workspace, actor=ACTOR)
    response = client.post(
        reverse("dashboard:member-remove", args=[workspace.slug, editor_user.public_id])
    )
    # The member stays, and the page says why instead of failing with a 500
    assert response.status_code == 403
    assert "advisory lock" in response.content.decode()
    assert Membership.objects.filter(workspace=workspace, user=editor_user).exists()
    settings_page = client.post(
        reverse("dashboard:settings", args=[workspace.slug]), {"name": "New name"}
    )
    assert settings_page.status_code == 400
    assert "advisory lock" in settings_page.content.decode()
