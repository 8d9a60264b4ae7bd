"""The Django admin: staff browse every model read-only; changes go through services, so the
policy decides (by the staff user's role in the row's workspace) and the audit log records."""

import pytest
from allauth.account.models import EmailAddress
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse
from django_celery_beat.models import IntervalSchedule, PeriodicTask

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


# --- Every model, ours or a library's, is read-only (issue 11, findings 2 and 7) -----------------
# allauth's e-mail addresses and Celery beat's schedule came with editable admins: staff could
# give any person a verified primary address of their choosing (and reset the password to it)
# or switch off the retention purge, with no audit entry. The admin site makes every admin
# registered on it read-only, whoever registers it; only our service-calling actions remain.


@pytest.mark.django_db
@pytest.mark.parametrize("model", list(admin.site._registry), ids=lambda m: m._meta.label)
def test_no_model_can_be_added_changed_or_deleted_in_the_admin(staff, model):
    request = RequestFactory().get("/admin/")
    request.user = staff
    model_admin = admin.site._registry[model]

    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)


@pytest.mark.django_db
def test_staff_cannot_give_a_person_an_address_of_their_choosing(client, staff, workspace):
    victim = UserFactory()
    client.force_login(staff)

    added = client.post(
        reverse("admin:account_emailaddress_add"),
        {"user": victim.pk, "email": "attacker@evil.example", "verified": "on", "primary": "on"},
    )

    assert added.status_code == 403
    assert not EmailAddress.objects.filter(email="attacker@evil.example").exists()


@pytest.mark.django_db
def test_library_admin_actions_that_change_rows_are_gone(client, staff, workspace):
    victim = UserFactory()
    address = EmailAddress.objects.create(user=victim, email="new@example.com", verified=False)
    every_minute = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.MINUTES)
    purge = PeriodicTask.objects.create(
        name="purge", task="destinations.tasks.events_purge_expired_all", interval=every_minute
    )
    client.force_login(staff)

    client.post(
        reverse("admin:account_emailaddress_changelist"),
        {"action": "make_verified", "_selected_action": [address.pk]},
    )
    client.post(
        reverse("admin:django_celery_beat_periodictask_changelist"),
        {"action": "disable_tasks", "_selected_action": [purge.pk]},
    )

    address.refresh_from_db()
    purge.refresh_from_db()
    assert not address.verified
    assert purge.enabled
