"""One proof format, one checker: the audit log's entry page (``…/audit/<idx>/proof.json``,
``audit.selectors.audit_entry_proof_document``) and public verification serve the same
document, and ``python -m compliance.public_verification.offline`` checks either — the
public one with the entry's contents withheld. Plus the public answers' headers: cached
briefly when 200, never stored otherwise, no cookie even for a signed-in visitor."""

import base64
import html
import json
import re
import subprocess
import sys

import pytest
from django.conf import settings
from django.urls import reverse

from audit import selectors as audit_selectors
from audit import services as audit_services
from audit.signed_note import NoteError
from compliance.public_verification import offline, throttle
from tests.audit_entries import audit_rows

pytestmark = pytest.mark.django_db


def _public_proof(client, workspace, entry_hash: str):
    url = reverse("api:public-verification-proof", args=[workspace.public_id])
    return client.get(url, {"hash": entry_hash})


def _entry_page_proof(client, workspace, idx: int) -> dict:
    response = client.get(reverse("audit:entry-proof", args=[workspace.slug, idx]))
    assert response.status_code == 200
    return json.loads(response.content)


def _vkey(workspace) -> str:
    return audit_selectors.audit_verifier_key(workspace=workspace)


def _run(tmp_path, capsys, document: dict, *args: str) -> tuple[int, str]:
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(document))
    code = offline.main([str(path), *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_the_public_proof_is_the_entry_pages_document_without_the_contents(
    client, api_client, opted_in, admin_user
):
    entry = audit_rows(opted_in)[3]
    public = _public_proof(api_client, opted_in, entry.hash_hex).json()
    client.force_login(admin_user)
    private = _entry_page_proof(client, opted_in, entry.idx)

    assert public["format"] == private["format"] == offline.FORMAT == audit_selectors.PROOF_FORMAT
    assert set(public) == set(private)
    withheld = {*offline.CONTENT_FIELDS, "check"}
    assert {key: value for key, value in public.items() if key not in withheld} == {
        key: value for key, value in private.items() if key not in withheld
    }
    assert all(public[field] is None for field in offline.CONTENT_FIELDS)
    assert private["material"] and private["event_type"] == "test.event"
    assert public["check"].startswith(offline.COMMAND)


def test_one_checker_takes_either_file(client, api_client, opted_in, admin_user, tmp_path, capsys):
    entry = audit_rows(opted_in)[2]
    vkey = _vkey(opted_in)
    client.force_login(admin_user)
    private = _entry_page_proof(client, opted_in, entry.idx)
    public = _public_proof(api_client, opted_in, entry.hash_hex).json()
    material = tmp_path / "entry.bin"
    material.write_bytes(bytes(entry.material))

    # The entry page's file: its bytes inside; the key as the page's line gives it (second)
    code, out = _run(tmp_path, capsys, private, vkey)
    assert code == 0 and f"verified: test.event # {entry.idx} in " in out
    assert _run(tmp_path, capsys, private, "--vkey", vkey)[0] == 0
    # The public file: the leaf alone, then bound to the bytes the holder has
    code, out = _run(tmp_path, capsys, public, "--vkey", vkey)
    assert code == 0 and "--material" in out
    code, out = _run(tmp_path, capsys, public, "--vkey", vkey, "--material", str(material))
    assert code == 0 and "--material" not in out


def test_the_checker_refuses_what_it_should(
    client, opted_in, other_workspace, admin_user, system_actor, tmp_path, capsys
):
    entry = audit_rows(opted_in)[1]
    client.force_login(admin_user)
    document = _entry_page_proof(client, opted_in, entry.idx)
    vkey = _vkey(opted_in)
    audit_services.audit_checkpoint_sign(workspace=other_workspace, actor=system_actor)
    other_key = _vkey(other_workspace)
    cases = {
        "another workspace's key": (document, other_key),
        "an edited entry": (
            dict(document, material=base64.b64encode(b'{"n":7}').decode()),
            vkey,
        ),
        "an edited prev_hash": (dict(document, prev_hash="00" * 32), vkey),
        "another index": (dict(document, index=entry.idx + 1), vkey),
        "another size": (dict(document, size=document["size"] + 1), vkey),
        "not a proof": ({"format": "tracklayer.audit-export.v1"}, vkey),
        "no checkpoint": (dict(document, checkpoint=None), vkey),
        "a string index": (dict(document, index=str(entry.idx)), vkey),
    }
    for what, (bad, key) in cases.items():
        code, out = _run(tmp_path, capsys, bad, "--vkey", key)
        assert code == 1, what
        assert out.startswith("invalid: "), what


def test_public_answers_cache_briefly_when_found_and_never_otherwise(
    api_client, client, opted_in, monkeypatch
):
    entry = audit_rows(opted_in)[0]
    ok = [
        api_client.get(reverse("api:public-verification", args=[opted_in.public_id])),
        _public_proof(api_client, opted_in, entry.hash_hex),
        client.get(reverse("public_verification:page", args=[opted_in.public_id])),
    ]
    refused = [
        api_client.get(reverse("api:public-verification", args=["ws_" + "0" * 20])),
        _public_proof(api_client, opted_in, "0" * 64),
        _public_proof(api_client, opted_in, "xyz"),
        client.get(reverse("public_verification:page", args=["ws_" + "0" * 20])),
    ]
    monkeypatch.setattr(throttle, "BURST", 0)
    throttled = [
        api_client.get(reverse("api:public-verification", args=[opted_in.public_id])),
        client.get(reverse("public_verification:page", args=[opted_in.public_id])),
    ]

    assert [r.status_code for r in ok] == [200, 200, 200]
    for response in ok:
        assert "public" in response["Cache-Control"] and "max-age=60" in response["Cache-Control"]
        assert "Cookie" not in response.get("Vary", "")
    assert [r.status_code for r in refused + throttled] == [404, 404, 400, 404, 429, 429]
    for response in refused + throttled:
        assert "no-store" in response["Cache-Control"]


def test_no_cookie_for_a_signed_in_visitor_either(client, opted_in, admin_user):
    client.force_login(admin_user)
    page = client.get(reverse("public_verification:page", args=[opted_in.public_id]))
    api = client.get(reverse("api:public-verification", args=[opted_in.public_id]))

    head = client.head(reverse("public_verification:page", args=[opted_in.public_id]))

    assert page.status_code == api.status_code == head.status_code == 200
    assert page.cookies == {} and api.cookies == {} and head.cookies == {}
    assert admin_user.email not in page.content.decode()


def test_the_checker_runs_in_a_plain_python_and_names_what_the_bytes_say(
    client, opted_in, admin_user, tmp_path
):
    entry = audit_rows(opted_in)[4]
    client.force_login(admin_user)
    document = _entry_page_proof(client, opted_in, entry.idx)
    document["event_type"] = "privacy.request_completed"  # a field nothing proves
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(document))

    # no Django, no settings, no database: as a reader would run it from a checkout
    result = subprocess.run(
        [sys.executable, "-m", offline.__name__, str(path), _vkey(opted_in)],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )

    assert result.returncode == 0, result.stderr
    assert f"verified: test.event # {entry.idx} in " in result.stdout


def test_a_checkpoint_that_does_not_verify_is_409_not_a_proof(
    api_client, client, opted_in, monkeypatch
):
    entry = audit_rows(opted_in)[0]

    def forged(*args, **kwargs):
        raise NoteError("no valid signature by the key")

    monkeypatch.setattr(audit_selectors, "open_checkpoint", forged)
    answer = _public_proof(api_client, opted_in, entry.hash_hex)
    page = client.get(
        reverse("public_verification:page", args=[opted_in.public_id]), {"hash": entry.hash_hex}
    )

    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "proof_failed"
    assert "no valid signature" in answer.json()["error"]["message"]
    assert page.status_code == 409 and b'data-testid="proof-failed"' in page.content


def test_the_pages_standard_library_snippet_checks_the_served_proof(
    api_client, client, opted_in, tmp_path
):
    entry = audit_rows(opted_in)[5]
    page = client.get(reverse("public_verification:page", args=[opted_in.public_id])).content
    snippet = html.unescape(
        re.search(r"<pre>(import base64, hashlib, json.*?)</pre>", page.decode(), re.S).group(1)
    )
    proof = _public_proof(api_client, opted_in, entry.hash_hex).json()
    (tmp_path / "proof.json").write_text(json.dumps(proof))

    def run(document: dict) -> subprocess.CompletedProcess:
        (tmp_path / "proof.json").write_text(json.dumps(document))
        return subprocess.run(
            [sys.executable, "-c", snippet], cwd=tmp_path, capture_output=True, text=True
        )

    assert run(proof).returncode == 0, run(proof).stderr
    other = _public_proof(api_client, opted_in, audit_rows(opted_in)[1].hash_hex).json()
    assert run(dict(proof, leaf_hash=other["leaf_hash"])).returncode == 1
