"""Exports round-trip, and the offline verifier catches every kind of tampering of the file —
with only the file and the verifier key."""

import base64
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import transaction

from audit import services
from audit.chain import entry_hash
from audit.export import audit_export_to_file
from audit.models import AuditSigningKey
from audit.offline import ExportFormatError, main, verify_export
from audit.signed_note import Checkpoint, Signer, generate_signer, sign_checkpoint
from tests.audit_entries import audit_count, last_row
from tracklayer import keyring
from workspaces import services as workspace_services
from workspaces.actors import SystemActor

ROOT = Path(__file__).resolve().parents[2]
ACTOR = SystemActor("tests")


@pytest.fixture
def exported(workspace, tmp_path):
    """An export of a log with two checkpoints, as parsed JSON, plus its verifier key."""
    for n in range(4):
        workspace_services.workspace_update(workspace=workspace, actor=ACTOR, name=f"Acme {n}")
    services.audit_checkpoint_sign(workspace=workspace, actor=ACTOR)
    for n in range(3):
        workspace_services.workspace_update(workspace=workspace, actor=ACTOR, name=f"Acme v{n}")
    path = tmp_path / "audit.json.gz"
    document = audit_export_to_file(workspace=workspace, actor=ACTOR, path=path)
    return {"path": path, "document": document, "vkey": document["verifier_key"]}


def check(document: dict, vkey: str):
    return verify_export(gzip.compress(json.dumps(document).encode()), vkeys=[vkey])


def reasons(result) -> list[tuple]:
    return [(b.idx, b.reason) for b in result.report.breaks]


def test_the_export_file_verifies_as_written(exported, workspace):
    result = verify_export(exported["path"].read_bytes(), vkeys=[exported["vkey"]])

    assert result.report.valid, result.report.breaks
    assert result.warnings == []
    document = exported["document"]
    assert result.report.total_events == len(document["events"])
    assert result.report.checkpoint.size == len(document["events"])
    assert [c["size"] for c in document["checkpoints"]] == sorted(
        c["size"] for c in document["checkpoints"]
    )
    # The export run itself is recorded (after the file, so not inside it)
    last = last_row(workspace)
    assert last.event_type == "audit.exported"


def test_an_edited_entry_is_named(exported):
    document = exported["document"]
    event = document["events"][2]
    material = base64.b64decode(event["material"]).replace(b"Acme", b"ACME")
    event["material"] = base64.b64encode(material).decode()

    result = check(document, exported["vkey"])

    assert (2, "hash_mismatch") in reasons(result)
    assert result.report.first_bad_idx == 2


def test_a_removed_entry_is_named(exported):
    document = exported["document"]
    del document["events"][3]
    assert (4, "gap") in reasons(check(document, exported["vkey"]))


def test_reordered_entries_are_named(exported):
    events = exported["document"]["events"]
    events[2], events[3] = events[3], events[2]
    result = check(exported["document"], exported["vkey"])
    assert {(3, "gap"), (2, "gap")} <= set(reasons(result))
    assert result.report.first_bad_idx == 2


def test_a_truncated_tail_is_caught_by_the_checkpoint(exported):
    document = exported["document"]
    document["events"] = document["events"][:-2]
    result = check(document, exported["vkey"])
    assert (len(document["events"]), "truncated") in reasons(result)


def test_a_rewritten_and_rehashed_chain_is_caught_by_the_checkpoint(exported):
    document = exported["document"]
    previous = None
    for event in document["events"]:
        material = base64.b64decode(event["material"])
        if event["idx"] == 1:
            material = material.replace(b'"role":"admin"', b'"role":"viewer"')
            event["material"] = base64.b64encode(material).decode()
        digest = entry_hash(previous, material)
        event["prev_hash"] = previous.hex() if previous else None
        event["hash"] = digest.hex()
        previous = digest

    result = check(document, exported["vkey"])

    assert not any(r in ("hash_mismatch", "prev_hash_mismatch") for _, r in reasons(result))
    assert (None, "checkpoint_root_mismatch") in reasons(result)


def test_a_forged_checkpoint_is_refused(exported):
    document = exported["document"]
    forger = Signer.from_key(generate_signer(document["origin"])[0])
    size = len(document["events"])
    note = sign_checkpoint(Checkpoint(document["origin"], size, b"\x07" * 32), forger)
    document["checkpoints"].append({"size": size, "root": "", "note": note})

    assert (None, "checkpoint_signature_invalid") in reasons(check(document, exported["vkey"]))


def test_equivocating_checkpoints_are_caught(exported, workspace):
    """Even the real key signing two roots for one size (a compromised signer) shows."""
    key = AuditSigningKey.objects.get(workspace=workspace)
    signer = Signer.from_key(
        keyring.decrypt(
            key.private_key_encrypted, context=f"audit-signing-key:{key.public_id}"
        ).decode()
    )
    document = exported["document"]
    size = document["checkpoints"][0]["size"]
    note = sign_checkpoint(Checkpoint(document["origin"], size, b"\x01" * 32), signer)
    document["checkpoints"].append({"size": size, "root": "", "note": note})

    assert (None, "checkpoint_equivocation") in reasons(check(document, exported["vkey"]))


def test_the_key_in_the_file_is_not_trusted(exported):
    """Replacing the file's key (and re-signing) does not help: the reader brings the key."""
    document = exported["document"]
    signer_key, their_vkey = generate_signer(document["origin"])
    document["verifier_key"] = their_vkey
    signer = Signer.from_key(signer_key)
    for checkpoint in document["checkpoints"]:
        parsed = Checkpoint.from_text(checkpoint["note"].split("\n\n")[0] + "\n")
        checkpoint["note"] = sign_checkpoint(parsed, signer)

    result = check(document, exported["vkey"])

    assert {r for _, r in reasons(result)} == {"checkpoint_signature_invalid"}


def test_without_checkpoints_it_warns_that_truncation_cannot_be_seen(exported):
    document = exported["document"]
    document["checkpoints"] = []
    result = check(document, exported["vkey"])
    assert result.report.valid
    assert "no signed checkpoint" in result.warnings[0]


@pytest.mark.parametrize("raw", [b"", b"not gzip", gzip.compress(b"[]"), b'{"format": "x"}'])
def test_unreadable_files_are_format_errors(raw):
    with pytest.raises(ExportFormatError):
        verify_export(raw, vkeys=[generate_signer("example.com/log")[1]])


def test_the_command_exits_0_valid_1_broken_2_unreadable(exported, tmp_path, capsys):
    assert main([str(exported["path"]), "--vkey", exported["vkey"]]) == 0
    capsys.readouterr()
    document = exported["document"]
    document["events"][0]["hash"] = "00" * 32
    broken = tmp_path / "broken.json.gz"
    broken.write_bytes(gzip.compress(json.dumps(document).encode()))
    assert main([str(broken), "--vkey", exported["vkey"], "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["chain_status"], report["first_bad_idx"]) == ("broken", 0)
    assert main([str(tmp_path / "missing.json.gz"), "--vkey", exported["vkey"]]) == 2


def test_the_offline_verifier_runs_without_django(exported):
    """A fresh interpreter with no settings: the module imports no Django at all."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO")}
    code = (
        "import sys; from audit.offline import main; rc = main(sys.argv[1:]); "
        "assert 'django' not in sys.modules, 'django was imported'; sys.exit(rc)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(exported["path"]), "--vkey", exported["vkey"]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("VALID")


def test_a_rolled_back_export_leaves_no_entry(workspace, tmp_path, monkeypatch):
    before = audit_count(workspace)
    monkeypatch.setattr(Path, "write_bytes", lambda *a: (_ for _ in ()).throw(OSError("full")))
    with pytest.raises(OSError), transaction.atomic():
        audit_export_to_file(workspace=workspace, actor=ACTOR, path=tmp_path / "x.json.gz")
    assert audit_count(workspace) == before
