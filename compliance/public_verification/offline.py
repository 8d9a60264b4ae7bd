"""Check an audit entry's inclusion proof offline, trusting nothing but the verifier key you
hold (``audit.offline``'s trust model: the key comes from you, never from the file). Pure: no
database, no Django settings.

``python -m compliance.public_verification.offline PROOF.json --vkey VKEY [--material FILE]``
(the key may also come second, without ``--vkey``, as the audit entry page's line gives it)

PROOF.json is one document format, ``tracklayer.audit-inclusion-proof.v1``, from either place:

- the audit log's entry page (**Download the proof**, ``…/audit/<idx>/proof.json``): it
  carries the entry's bytes (``material``, base64);
- the public verification endpoint (``GET /v1/public/workspaces/{id}/proof?hash=…``) and page:
  the same document with the entry's contents withheld (``material``, ``event_id`` and
  ``event_type`` null) — give the bytes you hold with ``--material`` to bind them.

The checks:

1. the checkpoint note is signed by VKEY for the log whose origin is the key's name;
2. the document's ``size`` and ``root``, when given, are the signed checkpoint's;
3. the inclusion path leads from the leaf at ``index`` to the signed root (RFC 9162
   §2.1.3.2) — the leaf is SHA-256(0x00 || material) when the material is known, else the
   document's ``leaf_hash``;
4. when the material is known: SHA-256(prev_hash || material) is the document's ``hash`` —
   so the entry you hold is the one the log signed. Without it, only the leaf is proven.

Exit status: 0 valid, 1 not.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import sys

from audit.chain import entry_hash
from audit.merkle import ProofError, leaf_hash, verify_inclusion
from audit.signed_note import NoteError, Verifier, open_checkpoint

#: ``audit.selectors.PROOF_FORMAT`` (not imported: that module needs Django).
FORMAT = "tracklayer.audit-inclusion-proof.v1"
#: The fields the public side withholds (proofs, not contents).
CONTENT_FIELDS = ("material", "event_id", "event_type")
COMMAND = "python -m compliance.public_verification.offline"


class PublicProofError(ValueError):
    pass


def _b64(value, what: str, *, size: int | None = 32) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except (TypeError, ValueError, binascii.Error):
        raise PublicProofError(f"{what} is not base64") from None
    if size is not None and len(raw) != size:
        raise PublicProofError(f"{what} is not {size} bytes")
    return raw


def _hex(value, what: str) -> bytes:
    try:
        raw = bytes.fromhex(value)
    except (TypeError, ValueError):
        raise PublicProofError(f"{what} is not hex") from None
    if len(raw) != 32:
        raise PublicProofError(f"{what} is not 32 bytes")
    return raw


def verify_proof_document(document: dict, *, vkey: str, material: bytes | None = None) -> dict:
    """``{"valid": True, "index", "size", "entry_bound", "event_type"}`` when every check
    above holds (``entry_bound``: the material was known, so the entry hash is proven too;
    ``event_type``: read from the proven bytes, None without them);
    ``PublicProofError`` naming the first that does not. ``material`` (the entry's bytes)
    overrides the document's."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise PublicProofError(f"not an inclusion proof (format {FORMAT!r} expected)")
    try:
        verifier = Verifier.from_vkey(vkey.strip())
        checkpoint = open_checkpoint(document["checkpoint"], verifier, origin=verifier.name)
        index = document["index"]
        if isinstance(index, bool) or not isinstance(index, int):
            raise PublicProofError("index is not an integer")
        path = [_b64(node, "a proof hash") for node in document["proof"]]
        if material is None and document.get("material") is not None:
            material = _b64(document["material"], "material", size=None)
    except (KeyError, TypeError, ValueError, NoteError, AttributeError) as error:
        raise PublicProofError(f"the proof cannot be read: {error}") from None
    if document.get("size") is not None and document["size"] != checkpoint.size:
        raise PublicProofError("the proof is not for the signed checkpoint's size")
    if document.get("root") is not None and _b64(document["root"], "root") != checkpoint.root:
        raise PublicProofError("the proof is not for the signed checkpoint's root")
    if material is not None:
        leaf = leaf_hash(material)
        given = document.get("leaf_hash")
        if given is not None and _b64(given, "leaf_hash") != leaf:
            raise PublicProofError("the material is not this leaf's")
    else:
        leaf = _b64(document.get("leaf_hash"), "leaf_hash")
    try:
        verify_inclusion(leaf, index, checkpoint.size, path, checkpoint.root)
    except ProofError as error:
        raise PublicProofError(f"the inclusion proof does not hold: {error}") from None
    if material is not None:
        prev = document.get("prev_hash")
        prev = None if prev is None else _hex(prev, "prev_hash")
        if entry_hash(prev, material) != _hex(document.get("hash"), "hash"):
            raise PublicProofError("the material and prev_hash do not give the entry hash")
    return {
        "valid": True,
        "index": index,
        "size": checkpoint.size,
        "entry_bound": material is not None,
        "event_type": _event_type(material),
    }


def _event_type(material: bytes | None) -> str | None:
    """The proven entry's event type, read from its bytes (never from the file's other
    fields, which nothing proves)."""
    if material is None:
        return None
    try:
        entry = json.loads(material)
    except ValueError:
        return None
    value = entry.get("event_type") if isinstance(entry, dict) else None
    return value if isinstance(value, str) else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Check an audit entry's inclusion proof (the entry page's proof.json or "
        "the public verification endpoint's answer) against the verifier key you trust."
    )
    parser.add_argument("file", help="the proof document (JSON)")
    parser.add_argument("key", nargs="?", help="the workspace's verifier key (or --vkey)")
    parser.add_argument("--vkey", help="the workspace's verifier key")
    parser.add_argument("--material", help="a file holding the entry's exact bytes")
    args = parser.parse_args(argv)
    vkey = args.vkey or args.key
    if not vkey:
        parser.error("the verifier key is required (--vkey VKEY)")
    try:
        with open(args.file, "rb") as handle:
            document = json.loads(handle.read())
        material = None
        if args.material:
            with open(args.material, "rb") as handle:
                material = handle.read()
        result = verify_proof_document(document, vkey=vkey, material=material)
    except (OSError, ValueError) as error:
        print(f"invalid: {error}", file=sys.stderr)
        return 1
    # as the audit entry page's line has always put it: "verified: <event type> # <idx> in <size>"
    what = result["event_type"] or "entry"
    print(f"verified: {what} # {result['index']} in {result['size']}")
    if not result["entry_bound"]:
        print(
            "(the entry's bytes were not given: its leaf is proven in the log; pass --material "
            "with the entry's bytes to prove the entry hash is that leaf's)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
