"""Check a public inclusion proof offline, trusting nothing but the verifier key you hold
(``audit.offline``'s trust model: the key comes from you, never from the file). Pure: no
database, no Django settings.

``python -m compliance.public_verification.offline PROOF.json --vkey VKEY [--material FILE]``

PROOF.json is the answer of ``GET /v1/public/workspaces/{id}/proof?hash=…``. The checks:

1. the checkpoint note is signed by VKEY for the log whose origin is the key's name;
2. the proof's tree size and root are the signed checkpoint's;
3. the inclusion path leads from the leaf hash at the entry's index to that root (RFC 9162
   §2.1.3.2);
4. with ``--material`` (the entry's canonical JSON bytes, as an audit export holds them):
   SHA-256(0x00 || material) is the leaf hash and SHA-256(prev_hash || material) is the
   entry hash — so the entry you hold is the one the log signed.

Exit status: 0 valid, 1 not.
"""

from __future__ import annotations

import argparse
import json
import sys

from audit.chain import entry_hash
from audit.merkle import ProofError, leaf_hash, verify_inclusion
from audit.signed_note import NoteError, Verifier, open_checkpoint


class PublicProofError(ValueError):
    pass


def _hex(value, what: str) -> bytes:
    try:
        raw = bytes.fromhex(value)
    except (TypeError, ValueError):
        raise PublicProofError(f"{what} is not hex") from None
    if len(raw) != 32:
        raise PublicProofError(f"{what} is not 32 bytes")
    return raw


def verify_public_proof(proof: dict, *, vkey: str, material: bytes | None = None) -> dict:
    """``{"valid": True, "index", "tree_size"}`` when every check above holds;
    ``PublicProofError`` naming the first that does not."""
    try:
        verifier = Verifier.from_vkey(vkey.strip())
        checkpoint = open_checkpoint(proof["checkpoint"]["note"], verifier, origin=verifier.name)
        index, size = int(proof["index"]), int(proof["tree_size"])
        path = [_hex(node, "a proof hash") for node in proof["proof"]]
        leaf = _hex(proof["leaf_hash"], "leaf_hash")
        root = _hex(proof["root"], "root")
    except (KeyError, TypeError, ValueError, NoteError) as error:
        raise PublicProofError(f"the proof cannot be read: {error}") from None
    if size != checkpoint.size or root != checkpoint.root:
        raise PublicProofError("the proof is not for the signed checkpoint")
    try:
        verify_inclusion(leaf, index, size, path, checkpoint.root)
    except ProofError as error:
        raise PublicProofError(f"the inclusion proof does not hold: {error}") from None
    if material is not None:
        if leaf_hash(material) != leaf:
            raise PublicProofError("the material is not this leaf's")
        prev = None if proof.get("prev_hash") is None else _hex(proof["prev_hash"], "prev_hash")
        if entry_hash(prev, material) != _hex(proof["entry_hash"], "entry_hash"):
            raise PublicProofError("the material and prev_hash do not give the entry hash")
    return {"valid": True, "index": index, "tree_size": size}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check a public inclusion proof offline.")
    parser.add_argument("file", help="the proof endpoint's JSON answer")
    parser.add_argument("--vkey", required=True, help="the workspace's verifier key")
    parser.add_argument("--material", help="a file holding the entry's canonical JSON bytes")
    args = parser.parse_args(argv)
    try:
        with open(args.file, "rb") as handle:
            proof = json.loads(handle.read())
        material = None
        if args.material:
            with open(args.material, "rb") as handle:
                material = handle.read()
        result = verify_public_proof(proof, vkey=args.vkey, material=material)
    except (OSError, ValueError) as error:
        print(f"invalid: {error}", file=sys.stderr)
        return 1
    print(f"valid: entry {result['index']} in the signed checkpoint of {result['tree_size']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
