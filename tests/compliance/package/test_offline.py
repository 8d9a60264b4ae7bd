"""The offline verifier: a genuine package verifies with only the zip and the verifier key; a
flipped byte in any file, a missing or an extra file, another workspace's key or package, a
signature passed off as a checkpoint (or the reverse) and hostile zips are caught, naming the
first file that fails. The command runs with no Django settings and no database."""

import io
import json
import os
import random
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from audit.signed_note import NoteError, Verifier, open_checkpoint
from compliance.package import offline
from compliance.package.offline import (
    PackageFailure,
    open_manifest_signature,
    verify_package,
)
from tests.compliance.package.conftest import build, evidence, rezip
from tests.factories import UserFactory, WorkspaceFactory

ROOT = Path(__file__).resolve().parents[3]

# Every kind of file a package holds: a new kind fails
# test_every_file_of_the_package_is_covered until it is listed here.
FILE_KINDS = {
    "manifest.json": "manifest.json",
    "manifest.sig": "manifest.sig",
    "checkpoint.note": "checkpoint.note",
    "audit export": "audit/audit-export.json",
    "access review JSON": "access-review/review.json",
    "access review CSV": "access-review/review.csv",
    "inventory JSON": "inventory/destinations.json",
    "inventory CSV": "inventory/destinations.csv",
    "requests": "privacy-requests/requests.json",
    "receipt": "privacy-requests/receipts/",
    "retention": "retention/retention.json",
    "incident": "incidents/",
    "readme": "README.txt",
    "controls": "controls.json",
}


_BUILT: dict = {}


@pytest.fixture
def packages(db):
    """Two workspaces' packages (Acme's, Globex's), built by the first test that asks and
    kept for the module: the tests below need only their bytes and keys."""
    if not _BUILT:
        for label in ("Acme", "Globex"):
            admin = UserFactory(name=f"{label} Admin")
            workspace = WorkspaceFactory(name=label, owner=admin)
            evidence(workspace, admin, label=label)
            built = build(workspace, admin)
            _BUILT[label] = {
                "bytes": built["bytes"],
                "files": built["files"],
                "vkey": built["package"].manifest["verifier_key"],
            }
    return _BUILT


@pytest.fixture
def package(packages):
    return packages["Acme"]


def verify(data: bytes, vkey: str):
    return verify_package(io.BytesIO(data), vkeys=[vkey])


def failure(data: bytes, vkey: str) -> tuple[str, str]:
    result = verify(data, vkey)
    assert not result.valid
    return result.failure.path, result.failure.reason


def path_of(files: dict, kind: str) -> str:
    prefix = FILE_KINDS[kind]
    [path] = [
        name
        for name in files
        if name == prefix or (prefix.endswith("/") and name.startswith(prefix))
    ]
    return path


def test_a_genuine_package_verifies(package):
    result = verify(package["bytes"], package["vkey"])

    assert result.valid, result.failure
    assert result.workspace_id.startswith("ws_")
    assert len(result.files) == len(package["files"]) - 2


def test_every_file_of_the_package_is_covered(package):
    assert sorted(path_of(package["files"], kind) for kind in FILE_KINDS) == sorted(
        package["files"]
    )


@pytest.mark.parametrize("kind", FILE_KINDS)
def test_a_flipped_byte_in_any_file_is_caught_naming_that_file(package, kind):
    files = dict(package["files"])
    path = path_of(files, kind)
    data = bytearray(files[path])
    data[len(data) // 2] ^= 0x01
    files[path] = bytes(data)

    failed, reason = failure(rezip(files), package["vkey"])

    assert failed == path, reason


@pytest.mark.parametrize("at", [n / 20 for n in range(20)])
def test_a_flipped_byte_anywhere_in_the_zip_itself_is_caught(package, at):
    # the raw zip, not a member's content: a member's deflate stream or CRC fails on reading,
    # the central directory on opening (exit 2); never a crash. A byte the zip format does
    # not use for content (a header's time, say) may verify: then no file's content changed.
    data = bytearray(package["bytes"])
    data[int(len(data) * at)] ^= 0x01

    try:
        result = verify(bytes(data), package["vkey"])
    except offline.PackageReadError:
        return
    if result.valid:
        with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
            assert {name: archive.read(name) for name in archive.namelist()} == package["files"]


def test_a_missing_file_is_caught(package):
    files = dict(package["files"])
    path = path_of(files, "incident")
    del files[path]

    assert failure(rezip(files), package["vkey"]) == (path, "missing")


def test_an_extra_file_is_caught(package):
    files = {**package["files"], "incidents/inc_planted.json": b"{}"}

    assert failure(rezip(files), package["vkey"]) == (
        "incidents/inc_planted.json",
        "not in the manifest",
    )


def test_another_workspaces_key_refuses_the_package(packages):
    # Acme's package with Globex's key, and Globex's with Acme's
    for mine, theirs in (("Acme", "Globex"), ("Globex", "Acme")):
        path, reason = failure(packages[mine]["bytes"], packages[theirs]["vkey"])
        assert path == "manifest.sig"
        assert "no verifiable signatures" in reason


def test_a_package_rebuilt_with_another_workspaces_signed_files_is_refused(packages):
    # Globex's signature and manifest in Acme's package: signed, but not by Acme's key
    files = {
        **packages["Acme"]["files"],
        "manifest.sig": packages["Globex"]["files"]["manifest.sig"],
    }
    assert failure(rezip(files), packages["Acme"]["vkey"])[0] == "manifest.sig"


def test_a_manifest_signature_is_never_a_checkpoint_and_a_checkpoint_never_a_signature(package):
    verifier = Verifier.from_vkey(package["vkey"])
    signature = package["files"]["manifest.sig"].decode()
    checkpoint = package["files"]["checkpoint.note"].decode()

    # both are validly signed by the same key …
    open_manifest_signature(signature, [verifier])
    open_checkpoint(checkpoint, verifier, origin=verifier.name)
    # … and neither passes for the other
    # (its second line is no tree size, and its first no origin)
    with pytest.raises(NoteError):
        open_checkpoint(signature, verifier, origin=verifier.name)
    with pytest.raises(NoteError):
        open_checkpoint(signature, verifier)  # not even without the origin check
    with pytest.raises(NoteError, match="not a manifest signature"):
        open_manifest_signature(checkpoint, [verifier])


def test_swapping_the_signature_and_the_checkpoint_is_caught(package):
    files = dict(package["files"])
    signature, checkpoint = files["manifest.sig"], files["checkpoint.note"]
    files["manifest.sig"], files["checkpoint.note"] = checkpoint, signature

    path, reason = failure(rezip(files), package["vkey"])

    assert path == "manifest.sig"
    assert "not a manifest signature" in reason


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../escape.json", "path traversal ('..')"),
        ("incidents/../../escape.json", "path traversal ('..')"),
        ("/etc/cron.d/escape", "absolute path"),
        ("C:/escape.json", "absolute path"),
        ("incidents\\escape.json", "backslash in the name"),
        ("incidents//escape.json", "empty or '.' path segment"),
        ("incidents/", "directory entry"),
        ("bad\x1bname.json", "control character in the name"),
    ],
)
def test_hostile_names_are_refused(package, name, reason):
    files = {**package["files"], name: b"x"}

    assert failure(rezip(files), package["vkey"]) == (offline.shown(name), reason)


def test_duplicate_names_are_refused(package):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in package["files"].items():
            archive.writestr(name, data)
        with pytest.warns(UserWarning, match="Duplicate name"):
            archive.writestr("manifest.json", b"{}")

    assert failure(out.getvalue(), package["vkey"]) == ("manifest.json", "duplicate name")


def test_names_equal_but_for_case_are_refused(package):
    files = {**package["files"], "Manifest.json": b"{}"}

    assert failure(rezip(files), package["vkey"]) == (
        "Manifest.json",
        "duplicate name (differs only in case)",
    )


def test_a_zip_bomb_is_refused_before_it_is_decompressed(package):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in package["files"].items():
            archive.writestr(name, data)
        archive.writestr("incidents/bomb.json", b"\0" * (8 * 2**20))  # ~1000:1

    path, reason = failure(out.getvalue(), package["vkey"])

    assert path == "incidents/bomb.json"
    assert "zip bomb" in reason


def test_a_declared_total_past_the_cap_is_refused(package, monkeypatch):
    monkeypatch.setattr(offline, "MAX_TOTAL_SIZE", 1000)

    assert failure(package["bytes"], package["vkey"])[0] == "(package)"


def test_not_a_zip_or_a_bad_key_cannot_be_verified(package):
    with pytest.raises(offline.PackageReadError, match="not a readable zip"):
        verify(b"PK not really", package["vkey"])
    with pytest.raises(offline.PackageReadError, match="verifier key"):
        verify(package["bytes"], "not-a-key")


def test_the_failure_names_the_first_file_in_manifest_order(package):
    files = dict(package["files"])
    for kind in ("incident", "access review CSV"):  # access-review/ sorts first
        path = path_of(files, kind)
        files[path] = files[path] + b" "

    assert failure(rezip(files), package["vkey"]) == (
        "access-review/review.csv",
        f"size mismatch ({len(package['files']['access-review/review.csv']) + 1} bytes, "
        f"manifest {len(package['files']['access-review/review.csv'])})",
    )


def test_package_failure_is_an_exception_naming_the_file():
    assert str(PackageFailure("incidents/x.json", "sha256 mismatch")) == (
        "incidents/x.json: sha256 mismatch"
    )


# --- The command, as an auditor runs it -----------------------------------------------------------


def _environment() -> dict:
    """This process's environment without Django's settings, the database or Redis."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO", "DATABASE", "TRACKLAYER", "TEST_REDIS", "REDIS"))
    }


def _run(*args: str) -> subprocess.CompletedProcess:
    """``tracklayer …`` (the console script's ``main``) in a fresh process with no Django
    settings and no database in its environment. (The ``tracklayer`` package's own import
    loads Celery's app, and with it Django's modules, but never its settings: the verifier
    module alone runs without Django, test_python_m_… below.)"""
    code = "import sys\nfrom tracklayer import cli\ncli.main(sys.argv[1:])\n"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_command_verifies_offline_and_exits_0(package, tmp_path):
    path = tmp_path / "package.zip"
    path.write_bytes(package["bytes"])

    result = _run("evidence", "verify", str(path), "--vkey", package["vkey"])

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("VALID: evidence package of ws_")


def test_the_command_names_the_first_failing_file_and_exits_1(package, tmp_path):
    files = dict(package["files"])
    incident = path_of(files, "incident")
    files[incident] = files[incident].replace(b"Acme Incident", b"Acme lncident")
    path = tmp_path / "package.zip"
    path.write_bytes(rezip(files))

    result = _run("evidence", "verify", str(path), "--vkey", package["vkey"])

    assert result.returncode == 1, result.stderr
    assert result.stdout.strip() == f"FAIL {incident}: sha256 mismatch"


def test_the_command_exits_2_when_the_package_or_key_cannot_be_read(package, tmp_path):
    path = tmp_path / "package.zip"
    path.write_bytes(package["bytes"])

    missing = _run("evidence", "verify", str(tmp_path / "nowhere.zip"), "--vkey", package["vkey"])
    bad_key = _run("evidence", "verify", str(path), "--vkey", "tracklayer+00000000+AAAA")

    assert (missing.returncode, bad_key.returncode) == (2, 2)
    assert missing.stderr.startswith("cannot verify:")


def test_python_m_runs_without_django_and_answers_json(package, tmp_path):
    path = tmp_path / "package.zip"
    path.write_bytes(package["bytes"])
    code = (
        "import runpy, sys\n"
        "sys.argv = ['offline', *sys.argv[1:]]\n"
        "try:\n"
        "    runpy.run_module('compliance.package.offline', run_name='__main__')\n"
        "finally:\n"
        "    assert 'django' not in sys.modules, 'django was imported'\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", code, str(path), "--vkey", package["vkey"], "--json"],
        cwd=ROOT,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["valid"] is True
    assert document["file"] is None
    assert "checkpoint.note" in document["files"]


def _export_report(export: bytes, vkey: str):
    archive = zipfile.ZipFile(io.BytesIO(rezip({"audit/audit-export.json": export})))
    info = archive.getinfo("audit/audit-export.json")
    return offline._verify_export(archive, info, [Verifier.from_vkey(vkey)], [vkey])


def test_the_export_read_a_line_at_a_time_agrees_with_audit_offline(package):
    export = package["files"]["audit/audit-export.json"]
    whole = json.dumps(json.loads(export)).encode()  # one line: read whole by audit.offline

    streamed, workspace_id = _export_report(export, package["vkey"])
    read_whole, _ = _export_report(whole, package["vkey"])

    assert streamed.valid and read_whole.valid
    assert (streamed.total_events, streamed.root) == (read_whole.total_events, read_whole.root)
    assert workspace_id.startswith("ws_")


def test_an_edited_entry_in_the_streamed_export_is_found(package):
    lines = package["files"]["audit/audit-export.json"].split(b"\n")
    event = json.loads(lines[3].removesuffix(b","))
    event["hash"] = "00" * 32
    lines[3] = json.dumps(event).encode() + b","

    report, _ = _export_report(b"\n".join(lines), package["vkey"])

    assert [(b.idx, b.reason) for b in report.breaks][:1] == [(2, "hash_mismatch")]


def test_a_symbolic_link_is_refused(package):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in package["files"].items():
            archive.writestr(name, data)
        link = zipfile.ZipInfo("incidents/link.json")
        link.external_attr = (0o120777) << 16  # what `zip --symlinks` writes
        archive.writestr(link, b"/etc/passwd")

    assert failure(out.getvalue(), package["vkey"]) == (
        "incidents/link.json",
        "not a regular file (a symbolic link?)",
    )


def test_random_damage_is_never_a_crash(package):
    """Seeded random bytes written over the zip (1 to 20 places, 500 times): each is refused
    as unreadable, or fails naming a file, or changed no file's content — never an exception
    the command would not turn into its exit status (6,000 such runs found four zipfile
    errors, all handled since)."""
    rng = random.Random(18)
    for _ in range(500):
        data = bytearray(package["bytes"])
        for _ in range(rng.choice([1, 1, 2, 5, 20])):
            data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            result = verify(bytes(data), package["vkey"])
        except offline.PackageReadError:
            continue
        if result.valid:
            with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
                assert {n: archive.read(n) for n in archive.namelist()} == package["files"]
