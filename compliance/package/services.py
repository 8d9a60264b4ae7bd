"""Build the auditor package: a zip of the workspace's evidence whose manifest is signed by the
workspace's audit key, bound to a checkpoint the package also holds (docs/adr/0022).

Guarantees of ``evidence_package_build``:

* a fresh checkpoint covers the log as it is when the build starts, and the package binds to
  it: ``checkpoint.note`` is that checkpoint, ``manifest.json`` names its size and root, the
  audit export holds exactly the entries it covers, and ``manifest.sig`` — by the key that
  signed the checkpoint — signs the manifest's SHA-256 with the origin, size and root;
* the manifest lists every other file with its size and SHA-256, and what could not be
  included (``omitted``, with why);
* building is recorded as ``evidence.package_built`` (the actor, the package id, the manifest's
  SHA-256, the file count, the tree size and root) in a transaction that commits before the
  package is handed out: no package leaves unrecorded. That entry is appended *after* the
  checkpoint the package binds to, so it is never in its own package (the next one holds it);
* memory stays bounded: the zip is written to a spooled temporary file (on disk past
  ``SPOOL_MEMORY``) and the audit export is streamed into it from the database.

Transactions: the checkpoint is signed in a short transaction of its own (it holds the log's
head lock); the files are then read and written holding no lock, so a long build never keeps
the workspace's other changes waiting; the entry is written last, in its own transaction.

Under the advisory lock: building changes nothing in the workspace, like the audit export
(``audit.exported``), so ``evidence.package_built`` is one of the entries that wait
(``audit.advisory.QUEUED_WHILE_LOCKED``): the package is built and its entry lands when the
lock lifts. A log that has no signing key yet cannot get one under the lock, so there the
build is refused (``AuditLockedError``) before anything is written.
"""

import dataclasses
import datetime as dt
import hashlib
import tempfile
import zipfile

import orjson
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from audit.exceptions import AuditIntegrityError
from audit.models import AuditCheckpoint, AuditLogHead
from audit.services import (
    audit_checkpoint_sign,
    audit_record,
    signing_key_context,
)
from audit.signed_note import Signer
from compliance.package import contents
from compliance.package.offline import (
    MANIFEST,
    MANIFEST_FORMAT,
    SIGNATURE,
    manifest_signature_text,
)
from compliance.package.selectors import EVENT_TYPE
from compliance.package.writer import PackageWriter
from tracklayer import keyring
from tracklayer.exceptions import ConflictError
from tracklayer.ids import new_public_id
from workspaces import policy
from workspaces.actors import actor_ref
from workspaces.policy import Action

#: Admins only: the package holds the whole audit log, like the audit export.
REQUIRED_ACTION = Action.AUDIT_SETTINGS
#: Bytes of the zip kept in memory before it moves to a temporary file on disk.
SPOOL_MEMORY = 8 * 2**20
#: One build at a time per workspace: a build reads the whole log, so a client (or a fuzzer)
#: asking again and again must not run many at once. The mark expires on its own after this
#: long, should the process die mid-build.
BUILDING_TTL = 15 * 60


class PackageInProgressError(ConflictError):
    code = "package_in_progress"


@dataclasses.dataclass
class BuiltPackage:
    """The zip (positioned at its start; the caller closes it) and what it holds."""

    file: tempfile.SpooledTemporaryFile
    filename: str
    package_id: str
    manifest: dict
    manifest_sha256: str
    size: int


def package_filename(workspace, moment: dt.datetime) -> str:
    return f"tracklayer-evidence-{workspace.slug}-{moment.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}.zip"


def _bind(*, workspace, actor) -> tuple[AuditCheckpoint, Signer, str]:
    """A checkpoint over the log as it is now, the signer of the key that signed it, and the
    log's origin — in a short transaction of its own."""
    with transaction.atomic():
        # (signing makes the workspace's key on first use)
        checkpoint = audit_checkpoint_sign(workspace=workspace, actor=actor)
        if checkpoint is None:
            raise AuditIntegrityError("The audit log is empty: there is nothing to bind to.")
        key = checkpoint.signing_key
        signer = Signer.from_key(
            keyring.decrypt(key.private_key_encrypted, context=signing_key_context(key)).decode()
        )
        origin = AuditLogHead.objects.get(workspace=workspace).origin
    return checkpoint, signer, origin


def evidence_package_build(*, workspace, actor) -> BuiltPackage:
    """Build the workspace's auditor package now (see the module's guarantees). One build at
    a time per workspace: another asked meanwhile is refused (``PackageInProgressError``)."""
    policy.authorize(workspace=workspace, actor=actor, action=REQUIRED_ACTION)
    building, mark = building_key(workspace), new_public_id("evb")
    if not cache.add(building, mark, timeout=BUILDING_TTL):
        raise PackageInProgressError(
            "A package of this workspace is being built right now; ask again when it is done."
        )
    try:
        return _build(workspace=workspace, actor=actor)
    finally:
        # Only this build's own mark: past BUILDING_TTL it expired, and the mark there now
        # may be another build's, which must keep the workspace's next one waiting.
        if cache.get(building) == mark:
            cache.delete(building)


def building_key(workspace) -> str:
    return f"evidence-package-building:{workspace.pk}"


def _build(*, workspace, actor) -> BuiltPackage:
    checkpoint, signer, origin = _bind(workspace=workspace, actor=actor)
    size, root_hex = checkpoint.size, bytes(checkpoint.root).hex()
    now = timezone.now()
    package_id = new_public_id("evp")
    # Handed to the response, which closes it once sent (closed here on any failure).
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)  # noqa: SIM115
    try:
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
            writer = PackageWriter(archive, moment=now)
            omitted = [
                *contents.write_checkpoint(writer, checkpoint=checkpoint),
                *contents.write_audit_export(writer, workspace=workspace, size=size, now=now),
                *contents.write_controls(writer, workspace=workspace, now=now),
                *contents.write_access_review(writer, workspace=workspace),
                *contents.write_inventory(writer, workspace=workspace),
                *contents.write_privacy_requests(
                    writer, workspace=workspace, actor=actor, size=size
                ),
                *contents.write_retention(writer, workspace=workspace, size=size),
                *contents.write_incidents(writer, workspace=workspace),
                *contents.write_readme(
                    writer,
                    workspace_id=workspace.public_id,
                    origin=origin,
                    created_at=now.astimezone(dt.UTC).isoformat(),
                    created_by=actor_ref(actor),
                    size=size,
                    root=root_hex,
                ),
            ]
            manifest = {
                "format": MANIFEST_FORMAT,
                "package_id": package_id,
                "workspace": {
                    "id": workspace.public_id,
                    "name": workspace.name,
                    "region": workspace.region,
                    "origin": origin,
                },
                "created_at": now.astimezone(dt.UTC).isoformat(),
                "created_by": actor_ref(actor),
                "checkpoint": {
                    "path": contents.CHECKPOINT,
                    "tree_size": size,
                    "root": root_hex,
                    "signed_at": checkpoint.created_at.astimezone(dt.UTC).isoformat(),
                },
                "verifier_key": signer.verifier_key,
                "files": [f.as_dict() for f in sorted(writer.files, key=lambda f: f.path)],
                "omitted": omitted,
                "audit_entry": (
                    f"{EVENT_TYPE} with this package_id, appended after the checkpoint "
                    f"(idx {size} or later): it is in the next package, not this one"
                ),
            }
            raw = orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n"
            manifest_sha256 = hashlib.sha256(raw).hexdigest()
            writer.add(MANIFEST, raw, listed=False)
            statement = manifest_signature_text(
                origin=origin, size=size, root_hex=root_hex, manifest_sha256=manifest_sha256
            )
            writer.add(SIGNATURE, signer.sign(statement).encode(), listed=False)
        with transaction.atomic():
            audit_record(
                workspace=workspace,
                actor=actor,
                event_type=EVENT_TYPE,
                resource_type="evidence_package",
                resource_id=package_id,
                payload={
                    "manifest_sha256": manifest_sha256,
                    "files": len(writer.files) + 2,
                    "tree_size": size,
                    "root": root_hex,
                    "omitted": [item["what"] for item in omitted],
                },
            )
    except BaseException:
        out.close()
        raise
    length = out.tell()
    out.seek(0)
    return BuiltPackage(
        file=out,
        filename=package_filename(workspace, now),
        package_id=package_id,
        manifest=manifest,
        manifest_sha256=manifest_sha256,
        size=length,
    )
