"""Ingestion settings (admins, audited) and the retention purge (audited when it removes
personal data)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from destinations.ingestion import services
from destinations.ingestion.runtime import ingestion_settings_get
from destinations.models import Event, EventOperational
from destinations.retention.purge import retention_purge
from tests.audit_entries import audit_count, last_entry
from tests.destinations.helpers import data_rows
from tests.factories import event_with_operational_data
from tracklayer.exceptions import DomainError, PermissionDeniedError

pytestmark = pytest.mark.django_db


def test_admin_changes_limits_and_the_change_is_audited(workspace, admin_user):
    services.ingestion_settings_update(
        workspace=workspace,
        actor=admin_user,
        values={"max_batch_events": 500, "operational_retention_days": 7},
    )

    current = ingestion_settings_get(workspace=workspace)
    assert (current.max_batch_events, current.operational_retention_days) == (500, 7)
    assert last_entry(workspace)["payload"]["changes"] == {
        "max_batch_events": {"before": 2500, "after": 500},
        "operational_retention_days": {"before": 30, "after": 7},
    }


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"operational_retention_days": 31}, "operational_retention_days"),
        ({"max_batch_events": 0}, "max_batch_events"),
        ({"pii_paths": ["vat_id"]}, "pii_paths"),
        ({"default_region": "Germany"}, "default_region"),
        ({"colour": 1}, "colour"),
    ],
)
def test_bad_values_name_their_field(workspace, admin_user, values, field):
    with pytest.raises(DomainError) as caught:
        services.ingestion_settings_update(workspace=workspace, actor=admin_user, values=values)

    assert caught.value.field == field


def test_editors_cannot_change_retention(workspace, editor_user):
    with pytest.raises(PermissionDeniedError):
        services.ingestion_settings_update(
            workspace=workspace, actor=editor_user, values={"operational_retention_days": 30}
        )


def test_purge_removes_old_operational_data_and_records_it(workspace, system_actor):
    now = timezone.now()
    old = event_with_operational_data(workspace, "old", now - timedelta(days=31))
    fresh = event_with_operational_data(workspace, "fresh", now - timedelta(days=1))

    removed = retention_purge(workspace=workspace, actor=system_actor, now=now)

    assert removed.purged["operational"] == 1 and removed.purged["message_ids"] == 1
    assert removed.purged["events"] == 0
    assert not data_rows(EventOperational, event=old)
    assert data_rows(EventOperational, event=fresh)
    assert data_rows(Event, pk=old.pk)  # the minimised event stays
    entry = last_entry(workspace)
    assert entry["event_type"] == "events.operational_data_purged"
    assert entry["payload"]["rows"] == 1


def test_a_purge_with_nothing_to_remove_writes_no_entry(workspace, system_actor):
    before = audit_count(workspace)

    retention_purge(workspace=workspace, actor=system_actor)

    assert audit_count(workspace) == before


def test_the_settings_page(client, workspace, admin_user, viewer_user):
    url = reverse("destinations:ingestion-settings", args=[workspace.slug])
    client.force_login(viewer_user)
    read_only = client.get(url)
    client.force_login(admin_user)
    form = {
        "max_event_bytes": 32768,
        "max_request_bytes": 512000,
        "max_batch_events": 100,
        "rate_per_second": 50,
        "rate_burst": 100,
        "dedup_window_days": 30,
        "operational_retention_days": 14,
        "default_region": "de",
        "pii_paths": "properties.vat_id\n",
    }
    saved = client.post(url, form)

    assert b"disabled" in read_only.content
    assert saved.status_code == 302
    current = ingestion_settings_get(workspace=workspace)
    assert (current.default_region, current.pii_paths) == ("DE", ["properties.vat_id"])
