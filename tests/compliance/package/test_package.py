"""The package holds every expected file, the manifest lists exactly them, and it is bound to
a checkpoint taken when it was built; building is recorded after that checkpoint."""

import base64
import contextlib
import csv
import hashlib
import io
import json

import pytest
from django.core.serializers.json import DjangoJSONEncoder

from audit.advisory import QUEUED_WHILE_LOCKED
from audit.exceptions import AuditLockedError
from audit.models import AuditCheckpoint, AuditLogHead, AuditPendingEntry
from audit.offline import verify_export
from audit.services import audit_advisory_lock_enable, audit_checkpoint_sign
from audit.signed_note import Verifier, open_checkpoint
from compliance.controls.catalogue import CONTROLS
from compliance.package import contents
from compliance.package.offline import open_manifest_signature
from compliance.package.selectors import EVENT_TYPE, package_history
from compliance.package.services import evidence_package_build
from privacy.requests.receipt import verify_receipt
from tests.audit_entries import audit_count, last_entry, last_row
from tests.compliance.package.conftest import build
from tracklayer.exceptions import PermissionDeniedError


def expected_files(built) -> set[str]:
    return {
        "manifest.json",
        "manifest.sig",
        "checkpoint.note",
        "audit/audit-export.json",
        "access-review/review.json",
        "access-review/review.csv",
        "inventory/destinations.json",
        "inventory/destinations.csv",
        "privacy-requests/requests.json",
        f"privacy-requests/receipts/{built['request'].public_id}.json",
        "retention/retention.json",
        f"incidents/{built['incident'].public_id}.json",
        "README.txt",
        "controls.json",
    }


def test_the_package_holds_every_expected_file_and_the_manifest_lists_exactly_them(built):
    files = built["files"]
    manifest = json.loads(files["manifest.json"])

    assert set(files) == expected_files(built)
    listed = {item["path"]: item for item in manifest["files"]}
    assert set(listed) == set(files) - {"manifest.json", "manifest.sig"}
    for path, item in listed.items():
        assert item["size"] == len(files[path])
        assert item["sha256"] == hashlib.sha256(files[path]).hexdigest()
    assert manifest["format"] == "tracklayer.evidence-manifest.v1"
    assert manifest["omitted"] == []


def test_the_manifest_binds_to_a_fresh_checkpoint_the_package_holds(built, workspace):
    files, manifest = built["files"], json.loads(built["files"]["manifest.json"])
    head = AuditLogHead.objects.get(workspace=workspace)
    verifier = Verifier.from_vkey(manifest["verifier_key"])

    checkpoint = open_checkpoint(files["checkpoint.note"].decode(), verifier, origin=head.origin)
    # the checkpoint covered the whole log when the build started: only the build's own entry
    # came after it
    assert checkpoint.size == head.size - 1
    assert last_row(workspace).event_type == EVENT_TYPE
    assert manifest["checkpoint"]["tree_size"] == checkpoint.size
    assert manifest["checkpoint"]["root"] == checkpoint.root.hex()
    assert manifest["workspace"] == {
        "id": workspace.public_id,
        "name": workspace.name,
        "region": workspace.region,
        "origin": head.origin,
    }
    signed = open_manifest_signature(files["manifest.sig"].decode(), [verifier])
    assert signed.manifest_sha256 == hashlib.sha256(files["manifest.json"]).hexdigest()
    assert (signed.origin, signed.size, signed.root_hex) == (
        head.origin,
        checkpoint.size,
        checkpoint.root.hex(),
    )


def test_the_audit_export_is_the_one_verify_export_checks_and_reproduces_the_root(built, vkey):
    manifest = json.loads(built["files"]["manifest.json"])
    result = verify_export(built["files"]["audit/audit-export.json"], vkeys=[vkey])

    assert result.report.valid, result.report.breaks
    assert result.warnings == []
    assert result.report.total_events == manifest["checkpoint"]["tree_size"]
    assert result.report.root.hex() == manifest["checkpoint"]["root"]


def test_the_evidence_files_are_the_apps_own_exports(built, vkey):
    files = built["files"]
    # the receipt, as issued, verifies on its own
    receipt = json.loads(files[f"privacy-requests/receipts/{built['request'].public_id}.json"])
    assert verify_receipt(receipt, vkey=vkey)["valid"]
    requests = json.loads(files["privacy-requests/requests.json"])["requests"]
    assert [(r["id"], r["type"], r["status"]) for r in requests] == [
        (built["request"].public_id, "delete", "completed")
    ]
    incident = json.loads(files[f"incidents/{built['incident'].public_id}.json"])
    assert incident["format"] == "tracklayer.incident-export.v1"
    assert incident["incident"]["title"] == "Evidence Incident"
    inventory = json.loads(files["inventory/destinations.json"])
    assert [row["name"] for row in inventory["destinations"]] == ["Evidence Destination"]
    review = json.loads(files["access-review/review.json"])
    assert review["campaign"]["id"] == built["campaign"].public_id
    assert list(csv.reader(io.StringIO(files["access-review/review.csv"].decode())))[1:]
    retention = json.loads(files["retention/retention.json"])
    assert retention["windows_days"]["operational"] == 30
    assert [p["payload"]["counts"] for p in retention["purges"]] == [{"events": 3}]


def test_controls_json_is_the_controls_pages_document_at_the_packages_time(built, workspace):
    manifest = json.loads(built["files"]["manifest.json"])
    raw = built["files"]["controls.json"]
    document = json.loads(raw)

    # listed and hashed like every file
    [listed] = [f for f in manifest["files"] if f["path"] == "controls.json"]
    assert listed == {
        "path": "controls.json",
        "size": len(raw),
        "sha256": hashlib.sha256(raw).hexdigest(),
    }
    # the document compliance.controls serves as controls.json, of this workspace, at the
    # package's time, reflecting this workspace's evidence (its completed access review)
    assert document["workspace"] == workspace.public_id
    assert document["generated_at"] == manifest["created_at"]
    assert [c["id"] for c in document["controls"]] == [c.id for c in CONTROLS]
    assert sum(item["count"] for item in document["summary"]) == len(CONTROLS)
    review = next(
        item
        for control in document["controls"]
        for item in control["evidence"]
        if item["key"] == "access_review"
    )
    figures = {figure["label"]: figure["value"] for figure in review["figures"]}
    assert figures["Completed"] is not None
    assert "No access review has been completed" not in review["reason"]
    # written as the page's JsonResponse writes it
    assert raw == json.dumps(document, cls=DjangoJSONEncoder, indent=2).encode()


def test_building_is_recorded_after_the_checkpoint_it_binds_to(built, workspace, admin_user):
    manifest = json.loads(built["files"]["manifest.json"])
    entry, row = last_entry(workspace), last_row(workspace)

    assert entry["event_type"] == EVENT_TYPE
    assert entry["actor"] == f"user:{admin_user.public_id}"
    assert entry["resource_id"] == manifest["package_id"]
    assert entry["payload"] == {
        "manifest_sha256": built["package"].manifest_sha256,
        "files": 14,
        "tree_size": manifest["checkpoint"]["tree_size"],
        "root": manifest["checkpoint"]["root"],
        "omitted": [],
    }
    assert row.idx == manifest["checkpoint"]["tree_size"]  # the first entry after it
    assert [r.package_id for r in package_history(workspace=workspace)] == [manifest["package_id"]]


def test_the_next_package_holds_the_previous_packages_entry(built, workspace, admin_user, vkey):
    again = build(workspace, admin_user)
    export = json.loads(again["files"]["audit/audit-export.json"])
    materials = [json.loads(base64.b64decode(e["material"])) for e in export["events"]]

    assert materials[-1]["event_type"] == EVENT_TYPE
    assert materials[-1]["resource_id"] == built["package"].package_id


def test_an_empty_workspace_package_names_what_it_omits(workspace, admin_user):
    built = build(workspace, admin_user)
    manifest = json.loads(built["files"]["manifest.json"])

    assert manifest["omitted"] == [
        {"what": "access-review/", "reason": "no access review has been completed"}
    ]
    assert not any(path.startswith("incidents/") for path in built["files"])
    assert json.loads(built["files"]["privacy-requests/requests.json"])["requests"] == []


def test_a_request_completed_after_the_checkpoint_is_listed_without_its_receipt(
    stocked, workspace, admin_user
):
    # the checkpoint the package binds to is taken before the request's entry
    request = stocked["request"]
    request.refresh_from_db()
    size = request.audit_idx  # as if the checkpoint were just before the completion
    writer = _Collect()

    contents.write_privacy_requests(writer, workspace=workspace, actor=admin_user, size=size)

    [row] = json.loads(writer.files["privacy-requests/requests.json"])["requests"]
    assert row["receipt"] is None
    assert row["receipt_note"] == "completed after this package's checkpoint"
    assert list(writer.files) == ["privacy-requests/requests.json"]


class _Collect:
    def __init__(self):
        self.files = {}

    def add(self, path, data, **_):
        self.files[path] = data

    @contextlib.contextmanager
    def stream(self, path):
        out = io.BytesIO()
        yield out
        self.files[path] = out.getvalue()


@pytest.mark.parametrize("role", ["editor_user", "viewer_user"])
def test_only_admins_build_a_package(request, workspace, role):
    actor = request.getfixturevalue(role)
    before = audit_count(workspace)
    with pytest.raises(PermissionDeniedError):
        evidence_package_build(workspace=workspace, actor=actor)
    assert audit_count(workspace) == before


def test_under_the_advisory_lock_the_package_is_built_and_its_entry_waits(workspace, admin_user):
    # evidence.package_built is in QUEUED_WHILE_LOCKED (docs/adr/0022): building changes nothing
    assert EVENT_TYPE in QUEUED_WHILE_LOCKED
    # (a workspace whose log has a signing key: making one is refused under the lock)
    audit_checkpoint_sign(workspace=workspace, actor=admin_user)
    audit_advisory_lock_enable(workspace=workspace, actor=admin_user)
    before = audit_count(workspace)

    built = build(workspace, admin_user)

    assert audit_count(workspace) == before
    assert built["package"].manifest["checkpoint"]["tree_size"] == before
    assert AuditPendingEntry.objects.filter(workspace=workspace, event_type=EVENT_TYPE).exists()


def test_under_the_advisory_lock_a_log_without_a_key_is_refused_before_any_work(
    workspace, admin_user
):
    # a key is never made under the lock, so there is nothing to sign the package with
    audit_advisory_lock_enable(workspace=workspace, actor=admin_user)
    checkpoints = AuditCheckpoint.objects.filter(workspace=workspace).count()

    with pytest.raises(AuditLockedError):
        evidence_package_build(workspace=workspace, actor=admin_user)

    assert AuditCheckpoint.objects.filter(workspace=workspace).count() == checkpoints
    assert not AuditPendingEntry.objects.filter(workspace=workspace, event_type=EVENT_TYPE).exists()
