"""Building a package holds a bounded amount in memory whatever the log's size: the audit
export is streamed from the database into the zip, and the zip goes to disk past a spool. The
audit export to a target is written by the same writer (audit.export.audit_export_write), and
is bounded too."""

import gzip
import io
import tracemalloc
import zipfile

from django.db import transaction
from django.utils import timezone

from audit import export as audit_export
from audit.offline import verify_export
from audit.services import AuditEvent, audit_record_many
from compliance.package import contents, services
from compliance.package.offline import verify_package
from compliance.package.writer import PackageWriter
from privacy.models import DataSubjectRequest
from workspaces.actors import SystemActor

ENTRIES = 20_000
PAYLOAD = {"note": "x" * 400}


def test_the_build_and_the_audit_export_do_not_hold_the_log_in_memory(
    workspace, admin_user, monkeypatch, settings, tmp_path
):
    # (a first build loads what any first request loads — the URL conf, the lazy imports —
    # so that the measure below is of the log, not of them)
    services.evidence_package_build(workspace=workspace, actor=admin_user).file.close()
    # Given a log of 20,000 entries (about 21 MB as the export writes it)
    actor = SystemActor("tests")
    for start in range(0, ENTRIES, 2_000):
        with transaction.atomic():
            audit_record_many(
                workspace=workspace,
                actor=actor,
                events=[
                    AuditEvent("custom.filler", "custom", str(n), PAYLOAD)
                    for n in range(start, start + 2_000)
                ],
            )
    monkeypatch.setattr(services, "SPOOL_MEMORY", 2**20)

    # When a package is built, tracing what Python allocates
    tracemalloc.start()
    try:
        package = services.evidence_package_build(workspace=workspace, actor=admin_user)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    export = next(f for f in package.manifest["files"] if f["path"] == "audit/audit-export.json")
    data = package.file.read()
    package.file.close()

    # Then the peak is a fraction of the export it wrote
    print(f"export {export['size']} bytes, zip {package.size} bytes, peak {peak} bytes")
    assert export["size"] > 20_000_000
    assert peak < export["size"] / 3
    assert peak < 8 * 2**20  # the iterator's chunk, the write buffer, the spool: not the log

    # And the offline verifier reads it a line at a time
    tracemalloc.start()
    try:
        result = verify_package(io.BytesIO(data), vkeys=[package.manifest["verifier_key"]])
        _current, verify_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"verify peak {verify_peak} bytes")
    assert result.valid, result.failure
    assert verify_peak < export["size"] / 3  # read whole and parsed, it would be many times it
    assert verify_peak < 8 * 2**20

    # And the audit export to a directory, written by the same writer, is bounded as well
    settings.AUDIT_EXPORT_ROOT = tmp_path
    audit_export.audit_export_config_update(
        workspace=workspace, actor=admin_user, values={"target": "directory", "directory": "x"}
    )
    monkeypatch.setattr(audit_export, "SPOOL_MEMORY", 2**20)
    tracemalloc.start()
    try:
        key = audit_export.audit_export_run(workspace=workspace, actor=admin_user)
        _current, export_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"audit export peak {export_peak} bytes")
    raw = (tmp_path / workspace.public_id / key).read_bytes()
    assert len(gzip.decompress(raw)) > 20_000_000
    assert export_peak < 8 * 2**20
    assert verify_export(raw, vkeys=[package.manifest["verifier_key"]]).report.valid


def test_the_requests_are_streamed_not_held(workspace, admin_user, tmp_path):
    # Given 10,000 data-subject requests (about 12 MB as requests.json writes them)
    forwarding = {f"dst_{n:020d}": {"status": "sent", "detail": "x" * 20} for n in range(20)}
    DataSubjectRequest.objects.bulk_create(
        DataSubjectRequest(
            public_id=f"dsr_{n:020d}",
            workspace=workspace,
            type="delete",
            status="failed",
            subject_count=1,
            forwarding=forwarding,
            requested_by="system:tests",
        )
        for n in range(10_000)
    )

    # When the package's requests are written, tracing what Python allocates
    with (tmp_path / "p.zip").open("w+b") as file, zipfile.ZipFile(file, "w") as archive:
        writer = PackageWriter(archive, moment=timezone.now())
        tracemalloc.start()
        try:
            contents.write_privacy_requests(writer, workspace=workspace, actor=admin_user, size=0)
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    [written] = writer.files

    # Then the peak is a fraction of the file: one chunk of requests, never all of them
    print(f"requests.json {written.size} bytes, peak {peak} bytes")
    assert written.size > 10_000_000
    assert peak < written.size / 3
