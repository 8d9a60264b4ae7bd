"""Verify an auditor package with nothing but the zip and the workspace's verifier key.

Pure, like ``audit.offline``: no database, no Django settings; it imports only ``audit.offline``,
``audit.verify``, ``audit.signed_note`` (and through them ``audit.merkle``/``audit.chain``), the
standard library and ``cryptography``. Run it as ``tracklayer evidence verify PACKAGE --vkey
VKEY`` or ``python -m compliance.package.offline PACKAGE --vkey VKEY``.

What a package holds (docs/evidence-center.md, "Auditor package"; docs/adr/0022):

* ``manifest.json`` (``tracklayer.evidence-manifest.v1``): the workspace, the time, the tree
  size and root of the checkpoint it binds to, and every other file's path, size and SHA-256;
* ``manifest.sig``: a C2SP signed note by the workspace's audit key whose text names the
  manifest format and carries the manifest's SHA-256, the log's origin, the size and the root;
* ``checkpoint.note``: the log's checkpoint at that size and root, signed by the same key;
* ``audit/audit-export.json``: the audit log export (``tracklayer.audit-export.v1``) of the
  entries the checkpoint covers, which must reproduce its root;
* the evidence itself (access review, destination inventory, data-subject requests and their
  receipts, retention, incidents), each file bound by its SHA-256 in the manifest.

Guarantees when ``verify_package`` reports valid: every file the manifest lists is in the zip
with its size and SHA-256, and no other file is; ``manifest.sig`` verifies with the key *you*
supply (trust never comes from the zip) and signs exactly this ``manifest.json``; the
checkpoint verifies with that key for the key's origin, at the size and root the manifest
names; and the audit export's entries reproduce that root at that size. Otherwise it names the
FIRST file that fails, in this order: the zip's structure, ``manifest.sig``, ``manifest.json``,
the listed files (manifest order), files not listed, ``checkpoint.note``, the audit export.

Domain separation: a checkpoint note's first line is the log's origin; a manifest signature's
first line is ``tracklayer.evidence-manifest.v1``. One can never be read as the other, though
the same key signs both.

A hostile zip is refused before anything is decompressed: names that are absolute, climb out
(``..``), use backslashes, drive letters or control characters; duplicate names (also those
equal but for case); symbolic links; encrypted members, compression other than stored or
deflate; more than ``MAX_FILES`` members, more than ``MAX_TOTAL_SIZE`` bytes in all, or a member
compressed more than ``MAX_RATIO`` to one (zip bombs). Reading never passes a member's
declared size.

Exit status: 0 valid, 1 a file fails (named), 2 the package or key could not be read.
"""

import argparse
import base64
import hashlib
import json
import re
import sys
import zipfile
import zlib
from dataclasses import dataclass, field

from audit.offline import FORMAT as EXPORT_FORMAT
from audit.offline import ExportFormatError, verify_export
from audit.signed_note import NoteError, Verifier, open_checkpoint, open_note
from audit.verify import verify_log

MANIFEST_FORMAT = "tracklayer.evidence-manifest.v1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
CHECKPOINT = "checkpoint.note"
AUDIT_EXPORT = "audit/audit-export.json"
#: The two files the manifest cannot list: itself, and the signature over it.
UNLISTED = (MANIFEST, SIGNATURE)

# Zip hostility bounds. A package of a log with a million entries is about 1 GB uncompressed.
MAX_FILES = 200_000
MAX_TOTAL_SIZE = 16 * 2**30
MAX_RATIO = 200
RATIO_FLOOR = 2**20  # smaller members may compress as well as they like
MAX_NOTE_SIZE = 64 * 2**10
MAX_MANIFEST_SIZE = 256 * 2**20
CHUNK = 2**20

_HEX64 = re.compile(r"[0-9a-f]{64}")
_SIZE = re.compile(r"0|[1-9][0-9]{0,18}")
_DRIVE = re.compile(r"[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# What reading a damaged member raises: a bad CRC, a truncated or corrupt deflate stream.
# (zipfile raises NotImplementedError for features a member's header claims and it lacks.)
_DAMAGED = (OSError, zipfile.BadZipFile, EOFError, ValueError, zlib.error, NotImplementedError)
_FILE_TYPE, _REGULAR_FILE = 0o170000, 0o100000  # Unix mode bits in a member's attributes
_SIGNATURE_KEYS = ("origin", "tree-size", "root", "manifest-sha256")


class PackageReadError(ValueError):
    """The package or the key cannot be read at all (exit 2)."""


class PackageFailure(Exception):
    """``path`` fails: ``reason`` says how (exit 1)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


# --- The manifest's signature -------------------------------------------------------------------


def manifest_signature_text(*, origin: str, size: int, root_hex: str, manifest_sha256: str) -> str:
    """The text ``manifest.sig`` signs: the format first (never a log's origin), then the
    origin, the checkpoint's size and root and the manifest's SHA-256, one ``key value`` a line."""
    return (
        f"{MANIFEST_FORMAT}\n"
        f"origin {origin}\n"
        f"tree-size {size}\n"
        f"root {root_hex}\n"
        f"manifest-sha256 {manifest_sha256}\n"
    )


@dataclass(frozen=True)
class ManifestSignature:
    origin: str
    size: int
    root_hex: str
    manifest_sha256: str


def open_manifest_signature(note: str, verifiers: list[Verifier]) -> ManifestSignature:
    """The signed statement in ``note``, which one of ``verifiers`` must have signed; its
    origin must be that key's name. ``NoteError`` otherwise — also for a checkpoint note,
    whose first line is an origin, not the manifest format."""
    text = open_note(note, verifiers).text
    lines = text[:-1].split("\n")
    if not lines or lines[0] != MANIFEST_FORMAT:
        raise NoteError(f"not a manifest signature: its first line is not {MANIFEST_FORMAT!r}")
    if len(lines) != 1 + len(_SIGNATURE_KEYS):
        raise NoteError("not a manifest signature: it must have exactly five lines")
    values = {}
    for key, line in zip(_SIGNATURE_KEYS, lines[1:], strict=True):
        name, space, value = line.partition(" ")
        if name != key or not space or not value:
            raise NoteError(f"not a manifest signature: expected a {key!r} line")
        values[key] = value
    if not _SIZE.fullmatch(values["tree-size"]):
        raise NoteError("not a manifest signature: the tree size is not a decimal number")
    for key in ("root", "manifest-sha256"):
        if not _HEX64.fullmatch(values[key]):
            raise NoteError(f"not a manifest signature: {key} is not 64 lowercase hex digits")
    if values["origin"] not in {verifier.name for verifier in verifiers}:
        raise NoteError(f"the signature is for origin {values['origin']!r}, not the key's")
    return ManifestSignature(
        values["origin"], int(values["tree-size"]), values["root"], values["manifest-sha256"]
    )


# --- The zip ------------------------------------------------------------------------------------


def shown(name: str) -> str:
    """A member name as it may be printed: control characters escaped."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", name)


def unsafe_name(name: str) -> str | None:
    """Why a member name may not be in a package (None: it may)."""
    if not name:
        return "empty name"
    if _CONTROL.search(name):
        return "control character in the name"
    if "\\" in name:
        return "backslash in the name"
    if name.startswith("/") or _DRIVE.match(name):
        return "absolute path"
    parts = name.split("/")
    if ".." in parts:
        return "path traversal ('..')"
    if name.endswith("/"):
        return "directory entry"
    if any(part in ("", ".") for part in parts):
        return "empty or '.' path segment"
    return None


def _check_structure(archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    members = archive.infolist()
    if len(members) > MAX_FILES:
        raise PackageFailure("(package)", f"more than {MAX_FILES} files")
    by_name: dict[str, zipfile.ZipInfo] = {}
    folded: set[str] = set()
    total = 0
    for info in members:
        name = info.filename
        reason = unsafe_name(name)
        if reason:
            raise PackageFailure(shown(name), reason)
        if name in by_name:
            raise PackageFailure(shown(name), "duplicate name")
        if name.casefold() in folded:
            raise PackageFailure(shown(name), "duplicate name (differs only in case)")
        if info.flag_bits & 0x61:  # bits 0 and 6: encrypted; bit 5: patched data
            raise PackageFailure(shown(name), "encrypted or patched")
        if (info.external_attr >> 16) & _FILE_TYPE not in (0, _REGULAR_FILE):
            # a symbolic link (or a device) would be made as one by an unzip tool
            raise PackageFailure(shown(name), "not a regular file (a symbolic link?)")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise PackageFailure(shown(name), "compression other than stored or deflate")
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise PackageFailure(
                shown(name), f"compressed more than {MAX_RATIO}:1 (refused as a zip bomb)"
            )
        total += info.file_size
        if total > MAX_TOTAL_SIZE:
            raise PackageFailure("(package)", f"more than {MAX_TOTAL_SIZE} bytes uncompressed")
        by_name[name] = info
        folded.add(name.casefold())
    return by_name


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, *, limit: int) -> bytes:
    if info.file_size > limit:
        raise PackageFailure(info.filename, f"larger than {limit} bytes")
    try:
        with archive.open(info) as handle:
            return handle.read()  # never past the declared size, checked above
    except _DAMAGED as error:
        raise PackageFailure(info.filename, f"damaged in the zip ({error})") from None


def _digest(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[int, str]:
    """Size and SHA-256 of a member, read in chunks (never past its declared size)."""
    digest, size = hashlib.sha256(), 0
    try:
        with archive.open(info) as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
    except _DAMAGED as error:
        raise PackageFailure(info.filename, f"damaged in the zip ({error})") from None
    return size, digest.hexdigest()


def _text(archive, info, *, limit: int) -> str:
    try:
        return _read(archive, info, limit=limit).decode("utf-8")
    except UnicodeDecodeError:
        raise PackageFailure(info.filename, "not UTF-8 text") from None


# --- The verification ---------------------------------------------------------------------------


@dataclass
class PackageVerification:
    valid: bool
    failure: PackageFailure | None = None
    workspace_id: str = ""
    origin: str = ""
    created_at: str = ""
    created_by: str = ""
    tree_size: int | None = None
    root_hex: str = ""
    files: list[str] = field(default_factory=list)
    omitted: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "valid": self.valid,
            "file": self.failure.path if self.failure else None,
            "reason": self.failure.reason if self.failure else None,
            "workspace_id": self.workspace_id,
            "origin": self.origin,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "tree_size": self.tree_size,
            "root": self.root_hex,
            "files": self.files,
            "omitted": self.omitted,
        }


def verifiers_from(vkeys: list[str]) -> list[Verifier]:
    if not vkeys:
        raise PackageReadError("at least one verifier key is needed")
    try:
        verifiers = [Verifier.from_vkey(vkey.strip()) for vkey in vkeys]
    except NoteError as error:
        raise PackageReadError(f"the verifier key cannot be read: {error.reason}") from None
    if any(verifier.name != verifiers[0].name for verifier in verifiers):
        raise PackageReadError("the verifier keys name different logs")
    return verifiers


def verify_package(source, *, vkeys: list[str]) -> PackageVerification:
    """Verify the package at ``source`` (a path or a binary file) against the workspace's
    verifier key(s) — more than one when its key was rotated. Raises ``PackageReadError``
    only when the key or the zip cannot be read; every failure of the package itself is in
    the result, naming the first file that fails."""
    verifiers = verifiers_from(vkeys)
    try:
        archive = zipfile.ZipFile(source)
    except _DAMAGED as error:
        raise PackageReadError(f"not a readable zip: {error}") from None
    result = PackageVerification(valid=False)
    with archive:
        try:
            _verify(archive, verifiers, vkeys, result)
        except PackageFailure as failure:
            result.failure = failure
            return result
    result.valid = True
    return result


def _verify(archive, verifiers, vkeys, result: PackageVerification) -> None:
    members = _check_structure(archive)

    # 1. The signature: made by the key you trust, over a manifest, for that key's log.
    if SIGNATURE not in members:
        raise PackageFailure(SIGNATURE, "missing")
    note = _text(archive, members[SIGNATURE], limit=MAX_NOTE_SIZE)
    try:
        signed = open_manifest_signature(note, verifiers)
    except NoteError as error:
        raise PackageFailure(SIGNATURE, f"does not verify with the key: {error.reason}") from None
    result.origin, result.tree_size, result.root_hex = signed.origin, signed.size, signed.root_hex

    # 2. The manifest: exactly the one signed.
    if MANIFEST not in members:
        raise PackageFailure(MANIFEST, "missing")
    raw = _read(archive, members[MANIFEST], limit=MAX_MANIFEST_SIZE)
    if hashlib.sha256(raw).hexdigest() != signed.manifest_sha256:
        raise PackageFailure(MANIFEST, "sha256 mismatch (manifest.sig signs another manifest)")
    manifest = _manifest(raw, signed)
    workspace = manifest["workspace"]
    result.workspace_id = str(workspace.get("id", ""))
    result.created_at = str(manifest.get("created_at", ""))
    result.created_by = str(manifest.get("created_by", ""))
    result.omitted = [item for item in manifest.get("omitted", []) if isinstance(item, dict)]

    # 3. Every listed file, as listed; then nothing else.
    listed = _listed_files(manifest)
    for path, size, sha256 in listed:
        if path not in members:
            raise PackageFailure(path, "missing")
        actual_size, actual_sha256 = _digest(archive, members[path])
        if actual_size != size:
            raise PackageFailure(path, f"size mismatch ({actual_size} bytes, manifest {size})")
        if actual_sha256 != sha256:
            raise PackageFailure(path, "sha256 mismatch")
    known = {path for path, _, _ in listed} | set(UNLISTED)
    for name in members:
        if name not in known:
            raise PackageFailure(shown(name), "not in the manifest")
    result.files = [path for path, _, _ in listed]

    # 4. The checkpoint the manifest binds to: signed by the key, for its log, same size/root.
    checkpoint_note = _text(archive, members[CHECKPOINT], limit=MAX_NOTE_SIZE)
    checkpoint, reason = None, "no key"
    for verifier in verifiers:
        try:
            checkpoint = open_checkpoint(checkpoint_note, verifier, origin=verifier.name)
            break
        except NoteError as error:
            reason = error.reason
    if checkpoint is None:
        raise PackageFailure(CHECKPOINT, f"does not verify with the key: {reason}")
    if checkpoint.size != signed.size or checkpoint.root.hex() != signed.root_hex:
        raise PackageFailure(
            CHECKPOINT,
            f"is for size {checkpoint.size}, root {checkpoint.root.hex()}; the manifest binds "
            f"to size {signed.size}, root {signed.root_hex}",
        )

    # 5. The audit export reproduces that root at that size.
    report, workspace_id = _verify_export(archive, members[AUDIT_EXPORT], verifiers, vkeys)
    if not report.valid:
        first = report.breaks[0]
        where = f"idx {first.idx}" if first.idx is not None else "the log"
        raise PackageFailure(
            AUDIT_EXPORT, f"does not verify: {where}: {first.reason} {first.detail}".rstrip()
        )
    if report.total_events != signed.size or report.root.hex() != signed.root_hex:
        raise PackageFailure(
            AUDIT_EXPORT,
            f"its {report.total_events} entries do not reproduce the checkpoint's root at size "
            f"{signed.size}",
        )
    if workspace_id != result.workspace_id:
        raise PackageFailure(AUDIT_EXPORT, "is the export of another workspace")


# --- The audit export, streamed -----------------------------------------------------------------
# The package's export is written with its events last, one a line (audit.export
# .audit_export_write, the one writer of the document), and its bytes are the ones the signed
# manifest names — so it is read a line at a time and the log is verified as it streams by
# (audit.verify.verify_log, the same walk as ``audit.offline``), in memory bounded by the
# longest entry, whatever the log's size. A file in any other layout is read whole by
# ``audit.offline.verify_export``.

_EVENTS_OPEN = b',"events":['


def _verify_export(archive, info, verifiers: list[Verifier], vkeys: list[str]):
    try:
        with archive.open(info) as handle:
            first = handle.readline(MAX_MANIFEST_SIZE)
            if first.rstrip(b"\n").endswith(_EVENTS_OPEN):
                return _verify_streamed(handle, first, verifiers)
    except _DAMAGED as error:
        raise PackageFailure(AUDIT_EXPORT, f"damaged in the zip ({error})") from None
    export = _read(archive, info, limit=MAX_TOTAL_SIZE)
    try:
        verified = verify_export(export, vkeys=vkeys)
    except (ExportFormatError, NoteError) as error:
        raise PackageFailure(AUDIT_EXPORT, f"not a readable audit export: {error}") from None
    return verified.report, verified.workspace_id


def _verify_streamed(handle, first: bytes, verifiers: list[Verifier]):
    try:
        header = json.loads(first.rstrip(b"\n")[: -len(_EVENTS_OPEN)] + b"}")
        if not isinstance(header, dict) or header.get("format") != EXPORT_FORMAT:
            raise ValueError(f"format {EXPORT_FORMAT!r} expected")
        notes = [c["note"] if isinstance(c, dict) else c for c in header.get("checkpoints", [])]
    except (ValueError, TypeError, KeyError) as error:
        raise PackageFailure(AUDIT_EXPORT, f"not a readable audit export: {error}") from None
    report = verify_log(
        _streamed_entries(handle),
        checkpoints=notes,
        verifier_keys=[verifier.verifier_key for verifier in verifiers],
        origin=verifiers[0].name,
    )
    return report, header.get("workspace_id", "")


def _streamed_entries(handle):
    closed = False
    for number, line in enumerate(handle, start=2):
        line = line.rstrip(b"\n")
        if closed or not line:
            raise PackageFailure(AUDIT_EXPORT, f"line {number}: unexpected after the events")
        if line == b"]}":
            closed = True
            continue
        try:
            event = json.loads(line.removesuffix(b","))
            yield (
                int(event["idx"]),
                bytes.fromhex(event["prev_hash"]) if event.get("prev_hash") else None,
                bytes.fromhex(event["hash"]),
                base64.b64decode(event["material"], validate=True),
            )
        except (KeyError, TypeError, ValueError) as error:
            reason = f"line {number}: malformed event ({error})"
            raise PackageFailure(AUDIT_EXPORT, reason) from None
    if not closed:
        raise PackageFailure(AUDIT_EXPORT, "ends before its events do")


def _manifest(raw: bytes, signed: ManifestSignature) -> dict:
    try:
        manifest = json.loads(raw)
    except ValueError as error:
        raise PackageFailure(MANIFEST, f"not JSON ({error})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise PackageFailure(MANIFEST, f"not a manifest (format {MANIFEST_FORMAT!r} expected)")
    workspace, checkpoint = manifest.get("workspace"), manifest.get("checkpoint")
    if not isinstance(workspace, dict) or workspace.get("origin") != signed.origin:
        raise PackageFailure(MANIFEST, "its workspace's origin is not the signed one")
    if (
        not isinstance(checkpoint, dict)
        or checkpoint.get("tree_size") != signed.size
        or checkpoint.get("root") != signed.root_hex
    ):
        raise PackageFailure(MANIFEST, "its checkpoint is not the signed size and root")
    return manifest


def _listed_files(manifest: dict) -> list[tuple[str, int, str]]:
    files = manifest.get("files")
    if not isinstance(files, list):
        raise PackageFailure(MANIFEST, "no list of files")
    listed, seen = [], set()
    for item in files:
        path = item.get("path") if isinstance(item, dict) else None
        size = item.get("size") if isinstance(item, dict) else None
        sha256 = item.get("sha256") if isinstance(item, dict) else None
        if (
            not isinstance(path, str)
            or unsafe_name(path)
            or type(size) is not int
            or size < 0
            or not isinstance(sha256, str)
            or not _HEX64.fullmatch(sha256)
        ):
            raise PackageFailure(MANIFEST, f"a malformed file entry: {shown(str(item))[:200]}")
        if path in seen or path in UNLISTED:
            raise PackageFailure(MANIFEST, f"lists {shown(path)} twice or lists itself")
        seen.add(path)
        listed.append((path, size, sha256))
    for required in (CHECKPOINT, AUDIT_EXPORT):
        if required not in seen:
            raise PackageFailure(MANIFEST, f"does not list {required}")
    return listed


# --- The command --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tracklayer evidence verify",
        description="Verify a TrackLayer auditor package offline against a verifier key.",
    )
    parser.add_argument("package", help="the package (.zip)")
    parser.add_argument(
        "--vkey",
        required=True,
        action="append",
        help="the workspace's verifier key (repeat for keys from before a rotation)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    try:
        result = verify_package(args.package, vkeys=args.vkey)
    except PackageReadError as error:
        print(f"cannot verify: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
    elif result.failure is not None:
        print(f"FAIL {result.failure.path}: {result.failure.reason}")
    else:
        print(f"VALID: evidence package of {result.workspace_id} ({result.origin})")
        print(f"  created     {result.created_at} by {result.created_by}")
        print(f"  checkpoint  size {result.tree_size}, root {result.root_hex}")
        print(f"  audit log   {result.tree_size} entries reproduce the checkpoint's root")
        print(f"  files       {len(result.files)}, each matching its SHA-256")
        for item in result.omitted:
            print(f"  omitted     {item.get('what')}: {item.get('reason')}")
    return 0 if result.valid else 1


if __name__ == "__main__":
    sys.exit(main())
