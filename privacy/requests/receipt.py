"""Verify a data-subject request's receipt offline: nothing but the receipt and the
workspace's verifier key (the audit log's, ``audit.offline``'s trust model — the key comes
from you, never from the file). Pure: no database, no Django settings.

``python -m privacy.requests.receipt RECEIPT.json --vkey VKEY``
"""

from __future__ import annotations

import argparse
import base64
import json
import sys

from audit.merkle import ProofError, leaf_hash, verify_inclusion
from audit.signed_note import NoteError, Verifier, open_checkpoint

FORMAT = "tracklayer.dsr-receipt.v1"


class ReceiptError(ValueError):
    pass


def verify_receipt(receipt: dict, *, vkey: str) -> dict:
    """``{"valid": True, "entry": {...}, "checkpoint_size": n}`` when the receipt's audit
    entry is in the log whose checkpoint ``vkey`` signed, and it is the entry of this
    request's completion; ``ReceiptError`` otherwise."""
    if not isinstance(receipt, dict) or receipt.get("format") != FORMAT:
        raise ReceiptError(f"not a receipt (format {FORMAT!r} expected)")
    if receipt.get("status") != "verifiable":
        raise ReceiptError("the receipt's entry is not yet covered by a signed checkpoint")
    try:
        material = base64.b64decode(receipt["entry"]["material"], validate=True)
        proof = receipt["inclusion"]
        path = [bytes.fromhex(item) for item in proof["proof"]]
        verifier = Verifier.from_vkey(vkey.strip())
        checkpoint = open_checkpoint(receipt["checkpoint"], verifier, origin=verifier.name)
    except (KeyError, TypeError, ValueError, NoteError) as error:
        raise ReceiptError(f"the receipt cannot be read: {error}") from None
    if int(proof["size"]) != checkpoint.size:
        raise ReceiptError("the proof is not for the signed checkpoint's size")
    try:
        verify_inclusion(
            leaf_hash(material), int(proof["index"]), checkpoint.size, path, checkpoint.root
        )
    except ProofError as error:
        raise ReceiptError(f"the inclusion proof does not hold: {error}") from None
    entry = json.loads(material)
    request = receipt.get("request", {})
    if entry.get("event_type") != "privacy.request_completed" or entry.get(
        "resource_id"
    ) != request.get("id"):
        raise ReceiptError("the proven entry is not this request's completion")
    return {"valid": True, "entry": entry, "checkpoint_size": checkpoint.size}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify a data-subject request receipt.")
    parser.add_argument("file")
    parser.add_argument("--vkey", required=True)
    args = parser.parse_args(argv)
    try:
        with open(args.file, "rb") as handle:
            result = verify_receipt(json.loads(handle.read()), vkey=args.vkey)
    except (OSError, ValueError) as error:
        print(f"invalid: {error}", file=sys.stderr)
        return 1
    idx = result["entry"].get("idx", "?")
    print(f"valid: entry {idx} in checkpoint {result['checkpoint_size']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
