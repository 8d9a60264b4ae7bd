"""The retention purge through a real Celery worker: beat's ``events-purge`` queues each
workspace's purge on its region's queue, and a region's worker purges its workspaces only."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from destinations import tasks
from destinations.models import Event
from destinations.retention.selectors import retention_overview
from tests.audit_entries import last_entry
from tests.destinations.worker import celery_worker, wait_for
from tests.factories import WorkspaceFactory, event_with_operational_data
from tracklayer.regions import alias_for

pytestmark = pytest.mark.django_db(transaction=True)


def events_in(region: str, workspace) -> int:
    return Event.objects.using(alias_for(region)).filter(workspace=workspace).count()


@pytest.fixture
def eu(admin_user):
    return WorkspaceFactory(name="Europa", region="eu", owner=admin_user)


@pytest.fixture
def us(admin_user):
    return WorkspaceFactory(name="Union", region="us", owner=admin_user)


def test_beat_purges_every_region(tmp_path, eu, us, monkeypatch):
    old = timezone.now() - timedelta(days=200)
    for workspace in (eu, us):
        event_with_operational_data(workspace, "old", old)
        event_with_operational_data(workspace, "new", timezone.now())
    monkeypatch.setenv("EVENTS_PURGE_INTERVAL_SECONDS", "1")

    with celery_worker(tmp_path):
        wait_for(
            lambda: events_in("eu", eu) == events_in("us", us) == 1,
            message="both regions purged by beat's events-purge",
        )
        wait_for(
            lambda: retention_overview(workspace=eu).last_purge_at is not None,
            message="the EU purge recorded",
        )

    for workspace in (eu, us):
        assert last_entry(workspace)["event_type"] == "events.operational_data_purged"
        assert last_entry(workspace)["payload"]["purged"]["events"] == 1


def test_a_worker_of_the_eu_queue_purges_the_eu_workspace_only(tmp_path, eu, us):
    old = timezone.now() - timedelta(days=200)
    for workspace in (eu, us):
        event_with_operational_data(workspace, "old", old)

    with celery_worker(tmp_path, beat=False, queues=[settings.CELERY_REGION_QUEUES["eu"]]):
        tasks.events_purge_expired_all()  # what beat runs: queues each purge on its region's
        wait_for(lambda: events_in("eu", eu) == 0, message="the EU workspace purged")

    assert events_in("us", us) == 1  # its purge waits for a worker of its region
    assert retention_overview(workspace=us).last_purge_at is None
