"""Audit exports: the whole log, its checkpoints and verifier keys in one gzip JSON file that
``audit.offline`` verifies with no database.

File layout (``format: tracklayer.audit-export.v1``)::

    {workspace_id, origin, exported_at, verifier_key, verifier_keys: [...],
     events: [{idx, event_id, prev_hash (hex|null), hash (hex), material (base64)}],
     checkpoints: [{size, root (base64), note}]}

``material`` is the exact hashed bytes, so the file needs no canonicalisation to verify.
"""

import base64
import datetime as dt
import gzip
from pathlib import Path

import orjson
from django.db import transaction
from django.utils import timezone

from audit.models import AuditCheckpoint, AuditEntry, AuditLogHead, AuditSigningKey
from audit.offline import FORMAT
from audit.services import audit_record, audit_signing_key_ensure


def audit_export_document(*, workspace) -> dict:
    """Everything in the workspace's log, streamed from the database in idx order."""
    head = AuditLogHead.objects.get(workspace=workspace)
    keys = list(
        AuditSigningKey.objects.filter(workspace=workspace)
        .order_by("created_at")
        .values_list("verifier_key", "retired_at")
    )
    current = next((vkey for vkey, retired in reversed(keys) if retired is None), None)
    events = [
        {
            "idx": idx,
            "event_id": event_id,
            "prev_hash": bytes(prev_hash).hex() if prev_hash is not None else None,
            "hash": bytes(digest).hex(),
            "material": base64.b64encode(bytes(material)).decode(),
        }
        for idx, event_id, prev_hash, digest, material in AuditEntry.objects.filter(
            workspace=workspace
        )
        .order_by("idx")
        .values_list("idx", "public_id", "prev_hash", "hash", "material")
        .iterator(chunk_size=5000)
    ]
    checkpoints = [
        {"size": size, "root": base64.b64encode(bytes(root)).decode(), "note": note}
        for size, root, note in AuditCheckpoint.objects.filter(workspace=workspace)
        .order_by("size")
        .values_list("size", "root", "note")
    ]
    return {
        "format": FORMAT,
        "workspace_id": workspace.public_id,
        "origin": head.origin,
        "exported_at": timezone.now().astimezone(dt.UTC).isoformat(),
        "verifier_key": current,
        "verifier_keys": [vkey for vkey, _retired in keys],
        "events": events,
        "checkpoints": checkpoints,
    }


def export_filename(workspace, moment: dt.datetime) -> str:
    """``YYYY/MM/DD/audit-<workspace>-<date>.json.gz`` (under the target's prefix)."""
    return f"{moment:%Y/%m/%d}/audit-{workspace.public_id}-{moment:%Y%m%dT%H%M%SZ}.json.gz"


@transaction.atomic
def audit_export_to_file(*, workspace, actor, path: Path) -> dict:
    """Sign a checkpoint first (so the export proves its own completeness), write the export,
    and record the export run in the log."""
    from audit.services import audit_checkpoint_sign

    audit_signing_key_ensure(workspace=workspace, actor=actor)
    audit_checkpoint_sign(workspace=workspace, actor=actor)
    document = audit_export_document(workspace=workspace)
    data = gzip.compress(orjson.dumps(document), mtime=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    audit_record(
        workspace=workspace,
        actor=actor,
        event_type="audit.exported",
        resource_type="audit_log",
        resource_id=workspace.public_id,
        payload={
            "target": "file",
            "events": len(document["events"]),
            "checkpoint_size": document["checkpoints"][-1]["size"]
            if document["checkpoints"]
            else None,
            "bytes": len(data),
        },
    )
    return document
