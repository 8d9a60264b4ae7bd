"""The Django admin: staff browse every model read-only; changes go through services, so the
policy decides (by the staff user's role in the row's workspace) and the audit log records."""

import pytest
from django.contrib import admin
from django.urls import reverse

from audit.models import AuditEntry
from tests.factories import UserFactory
from workspaces.models import ApiKey


@pytest.mark.django_db
@pytest.mark.parametrize("model", list(admin.site._registry), ids=lambda m: m._meta.label)
def test_every_model_has_a_working_changelist(client, staff, workspace, make_api_key, model):
    make_api_key(workspace)
    client.force_login(staff)
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    assert client.get(url).status_code == 200


@pytest.mark.django_db
def test_audit_entries_are_read_only_in_the_admin(client, staff, workspace):
    client.force_login(staff)
    entry = AuditEntry.objects.filter(workspace=workspace).first()
    url = reverse("admin:audit_auditentry_change", args=[entry.pk])

    page = client.get(url)
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert bytes(entry.material) in page.content.replace(b"&quot;", b'"')
    assert client.post(url, {"event_type": "forged"}).status_code == 403
    assert client.post(reverse("admin:audit_auditentry_delete", args=[entry.pk])).status_code == 403


def revoke_via_admin(client, key):
    return client.post(
        reverse("admin:workspaces_apikey_changelist"),
        {"action": "revoke", "_selected_action": [key.pk]},
        follow=True,
    )


@pytest.mark.django_db
def test_staff_who_administer_the_workspace_can_revoke_from_the_admin(
    client, staff, workspace, make_api_key, django_capture_on_commit_callbacks
):
    key, _token = make_api_key(workspace)
    client.force_login(staff)

    with django_capture_on_commit_callbacks(execute=True):
        response = revoke_via_admin(client, key)

    assert "Revoked: 1." in response.content.decode()
    key.refresh_from_db()
    assert key.revoked_at is not None
    entry = AuditEntry.objects.get(workspace=workspace, event_type="api_key.revoked")
    assert entry.actor == f"user:{staff.public_id}"


@pytest.mark.django_db
def test_staff_without_a_role_in_the_workspace_cannot_revoke(client, workspace, make_api_key):
    operator = UserFactory(is_staff=True, is_superuser=True)
    key, _token = make_api_key(workspace)
    client.force_login(operator)

    response = revoke_via_admin(client, key)

    assert "does not allow api_key.manage" in response.content.decode()
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None
    assert not AuditEntry.objects.filter(event_type="api_key.revoked").exists()
