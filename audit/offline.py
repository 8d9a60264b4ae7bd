"""Verify an audit export with nothing but the file and the workspace's verifier key.

Pure: no database, no Django settings — copy this package's ``offline``, ``verify``,
``merkle``, ``chain`` and ``signed_note`` modules anywhere with ``cryptography`` installed, or
run ``tracklayer audit verify-export FILE --vkey VKEY`` / ``python -m audit.offline``.

Trust comes from the verifier key *you* supply, never from the file: an attacker who rewrote
the file could also have replaced the key inside it. The checkpoints in the file must be
signed by that key for that log's origin (the key's name), and the entries must reproduce
every signed root — so an edited, removed, reordered or truncated entry, a rewritten chain, a
forged checkpoint or two checkpoints signing different roots for one size all fail, with the
first bad idx named.

Exit status: 0 valid, 1 broken, 2 the file or key could not be read.
"""

import argparse
import base64
import gzip
import json
import sys
from dataclasses import dataclass

from audit.signed_note import NoteError, Verifier
from audit.verify import Report, verify_log

FORMAT = "tracklayer.audit-export.v1"


class ExportFormatError(ValueError):
    pass


@dataclass
class ExportVerification:
    workspace_id: str
    origin: str
    report: Report
    warnings: list[str]

    def as_dict(self) -> dict:
        return {
            "workspace_id": self.workspace_id,
            "origin": self.origin,
            "chain_status": "valid" if self.report.valid else "broken",
            "total_events": self.report.total_events,
            "break_count": len(self.report.breaks),
            "first_bad_idx": self.report.first_bad_idx,
            "broken_events": [b.as_dict() for b in self.report.breaks],
            "checkpoint": self.report.checkpoint.as_dict() if self.report.checkpoint else None,
            "warnings": self.warnings,
        }


def load_export(raw: bytes) -> dict:
    """The export document from a ``.json.gz`` (or plain JSON) file."""
    try:
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        document = json.loads(raw)
    except (OSError, EOFError, ValueError) as error:
        raise ExportFormatError(f"not a readable export: {error}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ExportFormatError(f"not a TrackLayer audit export (format {FORMAT!r} expected)")
    return document


def _entries(document: dict):
    for position, event in enumerate(document.get("events", [])):
        try:
            yield (
                int(event["idx"]),
                bytes.fromhex(event["prev_hash"]) if event.get("prev_hash") else None,
                bytes.fromhex(event["hash"]),
                base64.b64decode(event["material"], validate=True),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ExportFormatError(f"event #{position} is malformed: {error}") from None


def verify_export(raw: bytes, *, vkeys: list[str]) -> ExportVerification:
    """Verify an export against the workspace's verifier key(s) — more than one when its key
    was rotated. Raises ExportFormatError/NoteError only for an unreadable file or key;
    everything about the log itself is in the report."""
    if not vkeys:
        raise NoteError("at least one verifier key is needed")
    verifiers = [Verifier.from_vkey(vkey.strip()) for vkey in vkeys]
    verifier = verifiers[0]
    if any(other.name != verifier.name for other in verifiers):
        raise NoteError("the verifier keys name different logs")
    document = load_export(raw)
    origin = document.get("origin", "")
    warnings = []
    if origin != verifier.name:
        warnings.append(
            f"the file names origin {origin!r}, the key is for {verifier.name!r}: "
            "checkpoints are checked against the key's"
        )
    checkpoints = document.get("checkpoints", [])
    if not checkpoints:
        warnings.append(
            "the export has no signed checkpoint, so a truncated or rewritten log cannot be "
            "told from a genuine one; only the hash chain was checked"
        )
    report = verify_log(
        _entries(document),
        checkpoints=[c["note"] if isinstance(c, dict) else c for c in checkpoints],
        verifier_keys=[v.verifier_key for v in verifiers],
        origin=verifier.name,
    )
    return ExportVerification(document.get("workspace_id", ""), origin, report, warnings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tracklayer audit verify-export",
        description="Verify a TrackLayer audit export offline against a verifier key.",
    )
    parser.add_argument("file", help="the export (.json.gz)")
    parser.add_argument(
        "--vkey",
        required=True,
        action="append",
        help="the workspace's verifier key (repeat for keys from before a rotation)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    try:
        with open(args.file, "rb") as handle:
            result = verify_export(handle.read(), vkeys=args.vkey)
    except (OSError, ExportFormatError, NoteError) as error:
        print(f"cannot verify: {error}", file=sys.stderr)
        return 2
    document = result.as_dict()
    if args.json:
        print(json.dumps(document, indent=2))
    else:
        print(f"{document['chain_status'].upper()}: {result.workspace_id} ({result.origin})")
        print(f"  entries     {document['total_events']}")
        checkpoint = document["checkpoint"]
        if checkpoint:
            print(
                f"  checkpoint  size {checkpoint['size']}, "
                f"{'consistent' if checkpoint['consistent'] else 'INCONSISTENT'}"
            )
        for item in document["broken_events"]:
            where = f"idx {item['idx']}" if item["idx"] is not None else "log"
            print(f"  {where}: {item['reason']} {item['detail']}".rstrip())
        if document["first_bad_idx"] is not None:
            print(f"  first bad idx: {document['first_bad_idx']}")
        for warning in result.warnings:
            print(f"  warning: {warning}")
    return 0 if result.report.valid else 1


if __name__ == "__main__":
    sys.exit(main())
