"""The advisory lock: once on, nothing — no person, key or worker — appends without the key,
so every audited change fails closed; only the original key lifts it."""

import pytest
from django.urls import reverse

from audit import services
from audit.actors import SystemActor
from audit.advisory import advisory_key
from audit.exceptions import AdvisoryKeyInvalidError, AuditLockedError
from audit.models import AuditEntry, AuditLogHead
from audit.tasks import audit_verify
from tests.factories import TEST_PASSWORD
from workspaces import services as workspace_services
from workspaces.models import ApiKey, ApiKeyRole

ACTOR = SystemActor("tests")


@pytest.fixture
def lock_key(workspace):
    return services.audit_advisory_lock_enable(workspace=workspace, actor=ACTOR)


def count(workspace) -> int:
    return AuditEntry.objects.filter(workspace=workspace).count()


def test_enabling_records_it_and_keeps_only_a_hash(workspace, lock_key):
    head = AuditLogHead.objects.get(workspace=workspace)
    assert lock_key.startswith("tlal_") and len(lock_key) > 40
    assert head.advisory_key_hash and lock_key not in head.advisory_key_hash
    last = AuditEntry.objects.filter(workspace=workspace).order_by("-idx").first()
    assert last.event_type == "audit.advisory_lock_enabled"
    assert lock_key.encode() not in bytes(last.material)


def test_every_audited_change_fails_closed(workspace, lock_key):
    before, keys = count(workspace), ApiKey.objects.count()

    with pytest.raises(AuditLockedError):
        workspace_services.api_key_create(workspace=workspace, actor=ACTOR, name="x")
    with pytest.raises(AuditLockedError):
        workspace_services.workspace_update(workspace=workspace, actor=ACTOR, name="Renamed")

    assert (count(workspace), ApiKey.objects.count()) == (before, keys)
    workspace.refresh_from_db()
    assert workspace.name != "Renamed"  # nothing unaudited happened


def test_workers_are_refused_too_but_checkpoints_still_get_signed(workspace):
    services.audit_checkpoint_sign(workspace=workspace, actor=ACTOR)  # the key exists
    lock_key = services.audit_advisory_lock_enable(workspace=workspace, actor=ACTOR)
    before = count(workspace)

    audit_verify(workspace.pk)  # the daily task: verifies, cannot record, does not crash
    assert count(workspace) == before

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

    last = AuditEntry.objects.filter(workspace=workspace).order_by("-idx").first()
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


def test_sign_in_is_refused_with_a_reason_while_locked(client, admin_user, workspace, lock_key):
    response = client.post(
        reverse("account_login"),
        {"login": admin_user.email, "password": TEST_PASSWORD},
        follow=True,
    )
    assert "Sign-in refused" in response.content.decode()
    assert "_auth_user_id" not in client.session


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


def test_an_unhandled_refusal_in_the_dashboard_is_a_clear_page(client, admin_user, workspace):
    client.force_login(admin_user)
    services.audit_advisory_lock_enable(workspace=workspace, actor=ACTOR)
    response = client.post(reverse("dashboard:member-remove", args=[workspace.slug, "usr_x"]))
    assert response.status_code in (403, 404)
    settings_page = client.post(
        reverse("dashboard:settings", args=[workspace.slug]), {"name": "New name"}
    )
    assert settings_page.status_code == 400
    assert "advisory lock" in settings_page.content.decode()
