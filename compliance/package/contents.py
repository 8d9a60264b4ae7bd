"""What goes into an auditor package, file by file — each read through its own app's selectors
and written as that app issues it (incident exports, data-subject receipts, the access review's
and the inventory's own exports), so the package adds no second format of anyone's evidence.

Every function writes its files through a ``PackageWriter`` and returns what it could not
include (``{"what", "reason"}``), which the manifest lists under ``omitted``.

Everything is bound to the checkpoint at ``size``: the audit export holds exactly the entries
``[0, size)`` and the checkpoints up to it; receipts and purges are those whose entries it
covers (a request completed after it is listed, its receipt left for the next package).
"""

import datetime as dt
import json

import orjson
from django.core.serializers.json import DjangoJSONEncoder

from audit.export import audit_export_write
from audit.models import AuditCheckpoint
from audit.selectors import audit_entry_list, audit_entry_material
from compliance.access_reviews.export import review_csv, review_json
from compliance.access_reviews.selectors import latest_completed
from compliance.controls.evidence import controls_document
from compliance.inventory.export import inventory_csv, inventory_json
from compliance.package.offline import AUDIT_EXPORT, CHECKPOINT
from compliance.package.writer import PackageWriter
from destinations.retention.selectors import retention_overview
from monitoring.incidents.selectors import incident_export, incident_list
from privacy.models import RequestStatus
from privacy.requests.selectors import dsr_list
from privacy.requests.services import dsr_receipt

RETENTION_FORMAT = "tracklayer.retention-evidence.v1"
REQUESTS_FORMAT = "tracklayer.privacy-requests.v1"
#: Purge runs listed at most (the newest): hourly runs make ~8,800 a year.
MAX_PURGES = 10_000
PURGE_EVENT = "events.operational_data_purged"
CONTROLS = "controls.json"
REQUESTS = "privacy-requests/requests.json"


def _json(document) -> bytes:
    return orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"


def _time(moment: dt.datetime | None) -> str | None:
    return moment.astimezone(dt.UTC).isoformat() if moment else None


README = """TrackLayer auditor package
=========================

Workspace: {workspace_id} ({origin})
Built:     {created_at} by {created_by}
Binds to:  the audit log's checkpoint at size {size}, root {root}

Every file here except manifest.json and manifest.sig is listed in manifest.json with its size
and SHA-256. manifest.sig is a signed note (https://c2sp.org/signed-note) by the workspace's
audit key over manifest.json's SHA-256, the log's origin, the size and the root;
checkpoint.note is the log's checkpoint at that size and root, signed by the same key; and
audit/audit-export.json holds the log's entries up to it, which reproduce that root.

Get the workspace's verifier key from the workspace (not from this package: a key inside it
could have been replaced with it). It reads NAME+KEYID+KEY (split at the first two "+"): NAME
is the log's origin, KEYID 8 hex digits, KEY base64 of the byte 0x01 and the 32-byte Ed25519
public key.

With TrackLayer's verifier
--------------------------

    tracklayer evidence verify PACKAGE.zip --vkey "$VKEY"

or, with only Python and the `cryptography` package and TrackLayer's audit/ and
compliance/package/ modules (no database, no settings):

    python -m compliance.package.offline PACKAGE.zip --vkey "$VKEY" --json

Exit 0: every file matches, none is missing or extra, the signature and the checkpoint verify
and the log reproduces the checkpoint's root. Exit 1 names the first file that does not.

Without TrackLayer's software
-----------------------------

Every step uses public formats; any SHA-256 and Ed25519 implementation will do.

1. The files. For each entry of "files" in manifest.json, `sha256sum PATH` must print its
   "sha256" and the file must have its "size" bytes; the zip must hold no file other than
   those, manifest.json and manifest.sig.

2. The signature. manifest.sig is a C2SP signed note: its text, a blank line, then lines
   "— NAME SIG" (an em dash), SIG being base64 of the 4-byte key ID and the 64-byte Ed25519
   signature of the text (every line of it, each ending in a newline). The key ID is the first
   4 bytes of SHA-256(NAME, a newline, 0x01, the public key); use the line whose NAME and key
   ID are the verifier key's. The text is exactly:

       tracklayer.evidence-manifest.v1
       origin NAME
       tree-size N
       root R (hex)
       manifest-sha256 the output of `sha256sum manifest.json`

   and manifest.json's "checkpoint" names the same N ("tree_size") and R ("root").

3. The checkpoint. checkpoint.note is a signed note in the same form by the same key
   (https://c2sp.org/tlog-checkpoint): its text is the origin NAME, the tree size N and the
   root R in base64, one a line. It proves the log had that root at that size.

4. The log. audit/audit-export.json is JSON ("tracklayer.audit-export.v1"); "events" holds
   entries 0 to N-1 in order. For each, M = base64-decode("material"): its "hash" is
   SHA-256(previous event's hash, M) (SHA-256(M) for the first) and its "prev_hash" the
   previous one's hash. The root is the Merkle tree hash of RFC 9162 (section 2.1.1) over
   the N leaves SHA-256(0x00, M), interior nodes SHA-256(0x01, left, right); it must equal R.
   Every note under "checkpoints" verifies as in step 3 and matches the root of the first
   entries at its size.

Each receipt under privacy-requests/receipts/ also verifies on its own:

    python -m privacy.requests.receipt RECEIPT.json --vkey "$VKEY"
"""


def write_readme(writer: PackageWriter, **fields) -> list[dict]:
    """README.txt: what the package is and how to verify it, for whoever opens the zip."""
    writer.add("README.txt", README.format(**fields).encode())
    return []


# --- The log ------------------------------------------------------------------------------------


def write_checkpoint(writer: PackageWriter, *, checkpoint: AuditCheckpoint) -> list[dict]:
    writer.add(CHECKPOINT, checkpoint.note.encode())
    return []


def write_audit_export(writer: PackageWriter, *, workspace, size: int, now) -> list[dict]:
    """The ``tracklayer.audit-export.v1`` document of the entries ``[0, size)`` and the
    checkpoints up to ``size``, written by the audit export's own writer
    (``audit.export.audit_export_write``) and streamed from the database into the zip — the
    same file ``tracklayer audit verify-export`` checks."""
    with writer.stream(AUDIT_EXPORT) as out:
        audit_export_write(out, workspace=workspace, size=size, now=now)
    return []


# --- Evidence from the other apps -----------------------------------------------------------------


def write_controls(writer: PackageWriter, *, workspace, now) -> list[dict]:
    """``controls.json``: every control with its status, the reason and its live evidence, as
    the Controls page's own ``controls.json`` serves it (same document, same bytes), at the
    package's time."""
    document = controls_document(workspace=workspace, now=now)
    writer.add(CONTROLS, json.dumps(document, cls=DjangoJSONEncoder, indent=2).encode())
    return []


def write_access_review(writer: PackageWriter, *, workspace) -> list[dict]:
    """The latest completed access review, as its own export writes it (JSON and CSV)."""
    campaign = latest_completed(workspace=workspace)
    if campaign is None:
        return [{"what": "access-review/", "reason": "no access review has been completed"}]
    writer.add("access-review/review.json", review_json(campaign))
    writer.add("access-review/review.csv", review_csv(campaign))
    return []


def write_inventory(writer: PackageWriter, *, workspace) -> list[dict]:
    """The destination inventory, as its own export writes it (JSON and CSV)."""
    writer.add("inventory/destinations.json", inventory_json(workspace=workspace))
    writer.add("inventory/destinations.csv", inventory_csv(workspace=workspace))
    return []


def write_privacy_requests(writer: PackageWriter, *, workspace, actor, size: int) -> list[dict]:
    """Data-subject requests (no personal data: counts, never subjects) and, for each one
    completed within the checkpoint, its receipt exactly as ``dsr_receipt`` issues it —
    verifiable on its own with ``python -m privacy.requests.receipt``.

    In two passes, streamed (a zip is written one member at a time): the receipts, then
    ``requests.json`` a request a line — memory holds one request, however many there are. A
    request's receipt is in the package exactly when its entry is within the checkpoint
    (``audit_idx < size``), which no later change of the request alters between the passes."""
    requests = dsr_list(workspace=workspace).order_by("created_at", "pk")
    for public_id in (
        requests.filter(status=RequestStatus.COMPLETED, audit_idx__lt=size)
        .values_list("public_id", flat=True)
        .iterator()
    ):
        receipt = dsr_receipt(workspace=workspace, actor=actor, public_id=public_id)
        writer.add(_receipt_path(public_id), _json(receipt))
    header = {"format": REQUESTS_FORMAT, "workspace_id": workspace.public_id}
    with writer.stream(REQUESTS) as out:
        out.write(orjson.dumps(header)[:-1] + b',"requests":[')
        separator = b"\n"
        for request in requests.defer("subjects").iterator(chunk_size=500):
            out.write(separator + orjson.dumps(_request_row(request, size=size)))
            separator = b",\n"
        out.write(b"\n]}\n")
    return []


def _receipt_path(public_id: str) -> str:
    return f"privacy-requests/receipts/{public_id}.json"


def _request_row(request, *, size: int) -> dict:
    row = {
        "id": request.public_id,
        "type": request.type,
        "status": request.status,
        "subjects": request.subject_count,
        "counts": request.counts,
        "suppressions": request.suppressions,
        "forwarding": request.forwarding,
        "requested_by": request.requested_by,
        "created_at": _time(request.created_at),
        "finished_at": _time(request.finished_at),
        "audit_idx": request.audit_idx,
        "receipt": None,
    }
    if request.status == RequestStatus.COMPLETED and request.audit_idx is not None:
        if request.audit_idx < size:
            row["receipt"] = _receipt_path(request.public_id)
        else:
            row["receipt_note"] = "completed after this package's checkpoint"
    elif request.status == RequestStatus.COMPLETED:
        row["receipt_note"] = "its entry is queued under the advisory lock"
    return row


def write_retention(writer: PackageWriter, *, workspace, size: int) -> list[dict]:
    """The retention windows, the last purge and the purge runs the log records (the newest
    ``MAX_PURGES`` within the checkpoint), each with its entry's idx and hash."""
    overview = retention_overview(workspace=workspace)
    entries = audit_entry_list(workspace=workspace, event_type=PURGE_EVENT).filter(idx__lt=size)
    purges = []
    for entry in entries[:MAX_PURGES]:
        material = audit_entry_material(entry)
        purges.append(
            {
                "idx": entry.idx,
                "hash": entry.hash_hex,
                "timestamp": material.get("timestamp"),
                "actor": material.get("actor"),
                "payload": material.get("payload"),
            }
        )
    document = {
        "format": RETENTION_FORMAT,
        "workspace_id": workspace.public_id,
        "windows_days": {
            "events": overview.events_days,
            "operational": overview.operational_days,
            "deliveries": overview.delivery_days,
            "dedup": overview.dedup_days,
        },
        "last_purge": {
            "at": _time(overview.last_purge_at),
            "region": overview.last_purge_region,
            "counts": overview.last_purge_counts,
            "pending_counts": overview.pending_counts,
        },
        "purges": purges,
        "purges_truncated": entries[MAX_PURGES : MAX_PURGES + 1].exists(),
    }
    writer.add("retention/retention.json", _json(document))
    return []


def write_incidents(writer: PackageWriter, *, workspace) -> list[dict]:
    """Each incident's ``tracklayer.incident-export.v1``, as its export API serves it."""
    ids = incident_list(workspace=workspace).order_by("opened_at", "pk")
    for public_id in ids.values_list("public_id", flat=True).iterator():
        document = incident_export(workspace=workspace, public_id=public_id)
        writer.add(f"incidents/{public_id}.json", _json(document))
    return []
