"""A purge killed half-way and run again: ``tracklayer workspace purge`` as a real process,
SIGKILLed while the region still holds some but not all of the workspace's events; the next
run deletes the rest and reports exactly what the workspace held, once."""

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from audit.models import AuditEntry
from audit.selectors import audit_verify
from destinations.residency.tables import TABLE_NAMES
from tests.audit_entries import last_entry
from tests.databases import database_env
from tests.destinations.factories import DestinationFactory
from tests.destinations.test_region_move_resume import held, kill_when, seed
from tests.factories import UserFactory, WorkspaceFactory
from workspaces import services
from workspaces.actors import SystemActor
from workspaces.models import Workspace

ROOT = Path(__file__).resolve().parents[3]
EVENTS = 20_000
ACTOR = SystemActor("tests")


def purge_command(slug: str) -> subprocess.Popen:
    env = {**os.environ, **database_env(), "DJANGO_SETTINGS_MODULE": "tests.settings"}
    return subprocess.Popen(
        [sys.executable, "manage.py", "workspace", "purge", "--workspace", slug, "--now",
         "--yes", "--batch-size", "200"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip


@pytest.fixture
def doomed(transactional_db):
    workspace = WorkspaceFactory(region="eu", owner=UserFactory())
    counts = seed(workspace, DestinationFactory(workspace=workspace), EVENTS)
    services.workspace_delete(workspace=workspace, actor=ACTOR, confirm_slug=workspace.slug)
    then = timezone.now() - timedelta(days=91)
    Workspace.objects.filter(pk=workspace.pk).update(deleted_at=then, purge_after=then)
    return workspace, counts


def test_a_purge_killed_half_way_resumes_and_reports_exact_counts(doomed):
    workspace, counts = doomed
    slug = workspace.slug

    def half_deleted():
        left = held(workspace, "eu")["destinations_event"]
        return 0 < left < EVENTS

    kill_when(purge_command(slug), half_deleted)
    partial = held(workspace, "eu")
    assert 0 < partial["destinations_event"] < EVENTS
    assert partial["destinations_deliveryattempt"] == 0  # children went first
    workspace.refresh_from_db()
    assert workspace.purged_at is None and workspace.slug == slug

    time.sleep(0.2)  # the killed session's advisory lock ends with its connection
    process = purge_command(slug)
    output, _ = process.communicate(timeout=300)

    assert process.returncode == 0, output
    assert held(workspace, "eu") == dict.fromkeys(TABLE_NAMES, 0)
    workspace.refresh_from_db()
    assert workspace.purged_at is not None and workspace.slug is None
    entry = last_entry(workspace)
    assert entry["event_type"] == "workspace.purged"
    assert entry["payload"]["data_plane"]["eu"] == {t: n for t, n in counts.items() if n}
    purged = AuditEntry.objects.filter(workspace=workspace, event_type="workspace.purged")
    assert purged.count() == 1
    assert audit_verify(workspace=workspace)["chain_status"] == "valid"
