"""Building a package holds a bounded amount in memory whatever the log's size: the audit
export is streamed from the database into the zip, and the zip goes to disk past a spool."""

import io
import tracemalloc

from django.db import transaction

from audit.services import AuditEvent, audit_record_many
from compliance.package import services
from compliance.package.offline import verify_package
from workspaces.actors import SystemActor

ENTRIES = 20_000
PAYLOAD = {"note": "x" * 400}


def test_the_build_does_not_hold_the_log_in_memory(workspace, admin_user, monkeypatch):
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
