"""README.txt in the zip tells an auditor how to verify the package without TrackLayer's
software. This test follows its recipe with nothing but the standard library and
``cryptography`` — no TrackLayer module — so that the README cannot drift from the package."""

import base64
import hashlib
import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def sha256(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


def open_note(note: str, vkey: str) -> list[str]:
    """README step 2: the text's lines, once a signature line by the key verifies."""
    name, key_id_hex, material = vkey.split("+", 2)
    raw = base64.b64decode(material)
    assert raw[0] == 0x01
    public = raw[1:]
    key_id = sha256(name.encode(), b"\n", b"\x01", public)[:4]
    assert key_id.hex() == key_id_hex
    text, _blank, signatures = note.partition("\n\n")
    text += "\n"
    for line in signatures.splitlines():
        dash, signer, sig = line.split(" ")
        blob = base64.b64decode(sig)
        if dash == "\u2014" and signer == name and blob[:4] == key_id:
            Ed25519PublicKey.from_public_bytes(public).verify(blob[4:], text.encode())
            return text[:-1].split("\n")
    raise AssertionError("no signature by the key")


def mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1."""
    if not leaves:
        return sha256()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return sha256(b"\x01", mth(leaves[:k]), mth(leaves[k:]))


def test_the_readme_recipe_verifies_the_package_without_tracklayer(built, vkey):
    files = built["files"]
    readme = files["README.txt"].decode()
    assert "Without TrackLayer's software" in readme
    manifest = json.loads(files["manifest.json"])

    # 1. the files
    listed = {item["path"]: item for item in manifest["files"]}
    assert set(files) == set(listed) | {"manifest.json", "manifest.sig"}
    for path, item in listed.items():
        assert hashlib.sha256(files[path]).hexdigest() == item["sha256"]
        assert len(files[path]) == item["size"]

    # 2. the signature
    lines = open_note(files["manifest.sig"].decode(), vkey)
    origin = vkey.split("+")[0]
    size, root = manifest["checkpoint"]["tree_size"], manifest["checkpoint"]["root"]
    assert lines == [
        "tracklayer.evidence-manifest.v1",
        f"origin {origin}",
        f"tree-size {size}",
        f"root {root}",
        f"manifest-sha256 {hashlib.sha256(files['manifest.json']).hexdigest()}",
    ]

    # 3. the checkpoint
    checkpoint = open_note(files["checkpoint.note"].decode(), vkey)
    assert checkpoint[:3] == [origin, str(size), base64.b64encode(bytes.fromhex(root)).decode()]

    # 4. the log
    export = json.loads(files["audit/audit-export.json"])
    assert export["format"] == "tracklayer.audit-export.v1"
    events = export["events"]
    assert [e["idx"] for e in events] == list(range(size))
    previous, leaves = b"", []
    for event in events:
        material = base64.b64decode(event["material"])
        assert event["prev_hash"] == (previous.hex() or None)
        assert event["hash"] == sha256(previous, material).hex()
        previous = bytes.fromhex(event["hash"])
        leaves.append(sha256(b"\x00", material))
    assert mth(leaves).hex() == root
    for item in export["checkpoints"]:
        note = open_note(item["note"], vkey)
        assert base64.b64decode(note[2]) == mth(leaves[: int(note[1])])
