"""The audit export (audit.export, the writer the auditor package shares) and the package do
not hold the log head's lock while a large log is read and sent: the workspace's audited
changes go on meanwhile."""

import threading

import pytest
from django.db import connections

from audit import export
from audit.models import AuditEntry
from compliance.package import contents, services
from workspaces import services as workspace_services


def _in_thread(target, results: list, key: str) -> threading.Thread:
    def run():
        try:
            results.append((key, target()))
        except Exception as error:  # the test looks at what was raised
            results.append((key, error))
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _held(monkeypatch, owner, name):
    """``owner.name`` pauses, once entered, until ``release`` is set."""
    entered, release = threading.Event(), threading.Event()
    real = getattr(owner, name)

    def slow(*args, **kwargs):
        entered.set()
        assert release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, slow)
    return entered, release


def _a_change_goes_on_while(entered, release, workspace, admin_user, results):
    assert entered.wait(30)
    change = _in_thread(
        lambda: workspace_services.workspace_update(
            workspace=workspace, actor=admin_user, name="Renamed meanwhile"
        ),
        results,
        "change",
    )
    change.join(10)
    waited = change.is_alive()
    release.set()
    change.join(30)
    return waited


@pytest.mark.django_db(transaction=True)
def test_an_audit_export_does_not_keep_the_workspaces_changes_waiting(
    workspace, admin_user, settings, tmp_path, monkeypatch
):
    settings.AUDIT_EXPORT_ROOT = tmp_path
    export.audit_export_config_update(
        workspace=workspace, actor=admin_user, values={"target": "directory", "directory": "x"}
    )
    entered, release = _held(monkeypatch, export.DirectoryTarget, "put")  # a slow upload
    results: list = []
    exporting = _in_thread(
        lambda: export.audit_export_run(workspace=workspace, actor=admin_user), results, "export"
    )

    waited = _a_change_goes_on_while(entered, release, workspace, admin_user, results)
    exporting.join(30)

    assert not waited, "the change waited for the export's upload"
    outcome = dict(results)
    assert not isinstance(outcome["export"], Exception), outcome["export"]
    assert not isinstance(outcome["change"], Exception), outcome["change"]
    assert AuditEntry.objects.filter(workspace=workspace, event_type="audit.exported").exists()


@pytest.mark.django_db(transaction=True)
def test_a_package_build_does_not_keep_the_workspaces_changes_waiting(
    workspace, admin_user, monkeypatch
):
    entered, release = _held(monkeypatch, contents, "write_incidents")  # a slow read
    results: list = []
    building = _in_thread(
        lambda: services.evidence_package_build(workspace=workspace, actor=admin_user),
        results,
        "build",
    )

    waited = _a_change_goes_on_while(entered, release, workspace, admin_user, results)
    building.join(30)

    assert not waited, "the change waited for the package's build"
    outcome = dict(results)
    assert not isinstance(outcome["build"], Exception), outcome["build"]
    outcome["build"].file.close()
