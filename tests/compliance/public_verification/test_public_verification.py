"""Public verification end to end: an admin turns it on (audited), then anyone — no key, no
session — reads the signed checkpoints and verifier key and gets an inclusion proof for an
entry hash that an independent check (hashlib, RFC 9162 §2.1.3.2) accepts against the signed
root. Off, unknown or another workspace's: the same 404. Rate-limited per address."""

import base64
import hashlib

import pytest
from django.urls import reverse

from audit import selectors as audit_selectors
from audit import services as audit_services
from audit.exceptions import AuditLockedError
from audit.signed_note import Verifier, open_checkpoint
from compliance.public_verification import offline, services, throttle
from compliance.public_verification.models import PublicVerification
from tests.audit_entries import audit_entries, audit_rows
from tracklayer.exceptions import PermissionDeniedError

pytestmark = pytest.mark.django_db


def _api(workspace_id: str) -> str:
    return reverse("api:public-verification", args=[workspace_id])


def _proof_url(workspace_id: str) -> str:
    return reverse("api:public-verification-proof", args=[workspace_id])


def _page(workspace_id: str) -> str:
    return reverse("public_verification:page", args=[workspace_id])


def _settings(workspace) -> str:
    return reverse("public_verification:settings", args=[workspace.slug])


def _root_from_proof(leaf: bytes, index: int, size: int, path: list[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2 with hashlib alone (independent of audit.merkle)."""
    node = lambda left, right: hashlib.sha256(b"\x01" + left + right).digest()  # noqa: E731
    fn, sn, r = index, size - 1, leaf
    for p in path:
        assert sn != 0, "proof longer than the path"
        if fn & 1 or fn == sn:
            r = node(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node(r, p)
        fn, sn = fn >> 1, sn >> 1
    assert sn == 0, "proof ends below the root"
    return r


def test_turning_it_on_and_off_is_audited_and_admins_only(
    client, workspace, admin_user, editor_user
):
    client.force_login(editor_user)
    assert client.post(_settings(workspace), {"enabled": "on"}).status_code == 403

    client.force_login(admin_user)
    assert client.get(_settings(workspace)).status_code == 200
    on = client.post(_settings(workspace), {"enabled": "on"})
    again = client.post(_settings(workspace), {"enabled": "on"})  # no change, no entry
    off = client.post(_settings(workspace), {"enabled": "off"})

    assert on.status_code == again.status_code == off.status_code == 302
    # through htmx, the section comes back in place, saying what changed
    back_on = client.post(_settings(workspace), {"enabled": "on"}, HTTP_HX_REQUEST="true")
    assert back_on.status_code == 200
    assert b'data-state="on"' in back_on.content and b"Public verification on." in back_on.content
    entries = [e for e in audit_entries(workspace) if e["event_type"].startswith("public_")]
    assert [e["event_type"] for e in entries] == [
        "public_verification.enabled",
        "public_verification.disabled",
        "public_verification.enabled",
    ]
    assert entries[0]["actor"] == f"user:{admin_user.public_id}"
    assert entries[0]["resource_id"] == workspace.public_id
    state = PublicVerification.objects.get(workspace=workspace)
    assert state.enabled is True and state.enabled_by == admin_user
    with pytest.raises(PermissionDeniedError):
        services.public_verification_set(workspace=workspace, actor=editor_user, enabled=True)


def test_off_or_unknown_is_the_same_404_for_page_and_json(client, workspace, other_workspace):
    unknown = "ws_" + "0" * 20
    answers = [
        client.get(_api(workspace.public_id)),
        client.get(_api(unknown)),
        client.get(_api("ws_not-an-id")),
        client.get(_proof_url(workspace.public_id), {"hash": "a" * 64}),
    ]
    assert [a.status_code for a in answers] == [404, 404, 404, 404]
    assert len({a.content for a in answers}) == 1
    assert client.get(_api("ws_\x00")).status_code == 404  # refused before any view
    assert answers[0].json()["error"]["code"] == "not_found"
    pages = [client.get(_page(workspace.public_id)), client.get(_page(unknown))]
    assert [p.status_code for p in pages] == [404, 404]
    assert pages[0].content == pages[1].content
    assert workspace.name.encode() not in pages[0].content


def test_on_it_serves_the_checkpoints_and_key_without_key_session_or_cookie(
    api_client, client, opted_in, system_actor
):
    response = api_client.get(_api(opted_in.public_id))

    assert response.status_code == 200
    assert response.cookies == {} and "Set-Cookie" not in response
    assert response["Access-Control-Allow-Origin"] == "*"  # a verifier in any web page
    body = response.json()
    assert body["workspace_id"] == opted_in.public_id
    assert opted_in.name not in response.content.decode()
    checkpoint, key = body["checkpoints"][0], body["verifier_keys"][0]
    assert key["current"] is True
    # The note as stored, signed by the key served, for the origin served
    verifier = Verifier.from_vkey(key["vkey"])
    opened = open_checkpoint(checkpoint["note"], verifier, origin=body["origin"])
    assert opened.size == checkpoint["size"] and opened.root.hex() == checkpoint["root"]
    # The page too, without any cookie
    page = client.get(_page(opted_in.public_id))
    assert page.status_code == 200 and page.cookies == {}
    assert key["vkey"] in page.content.decode()


def test_an_inclusion_proof_for_a_real_entry_verifies_independently(api_client, opted_in):
    rows = audit_rows(opted_in)
    entry = rows[len(rows) // 2]

    response = api_client.get(_proof_url(opted_in.public_id), {"hash": entry.hash_hex.upper()})

    assert response.status_code == 200
    proof = response.json()
    assert proof["format"] == "tracklayer.audit-inclusion-proof.v1"
    assert proof["index"] == entry.idx and proof["hash"] == entry.hash_hex
    assert proof["status"] == "verified"
    # Proofs, not contents
    assert proof["material"] is None and proof["event_type"] is None
    assert proof["event_id"] is None
    material = bytes(entry.material)
    assert base64.b64encode(material).decode() not in response.content.decode()
    leaf = hashlib.sha256(b"\x00" + material).digest()
    assert base64.b64decode(proof["leaf_hash"]) == leaf
    prev = bytes(entry.prev_hash) if entry.prev_hash is not None else b""
    assert hashlib.sha256(prev + material).hexdigest() == proof["hash"]
    root = _root_from_proof(
        leaf, proof["index"], proof["size"], [base64.b64decode(p) for p in proof["proof"]]
    )
    # … and that root is the one the workspace's key signed
    note_body = proof["checkpoint"].split("\n\n")[0].split("\n")
    assert int(note_body[1]) == proof["size"]
    assert base64.b64decode(note_body[2]) == root == base64.b64decode(proof["root"])
    vkey = api_client.get(_api(opted_in.public_id)).json()["verifier_keys"][0]["vkey"]
    assert proof["verifier_key"] == vkey
    checked = offline.verify_proof_document(proof, vkey=vkey, material=material)
    assert checked["valid"] is True and checked["entry_bound"] is True
    # without the bytes, the leaf is proven, not the entry hash
    assert offline.verify_proof_document(proof, vkey=vkey)["entry_bound"] is False
    # A flipped path node is caught
    flipped = [
        base64.b64encode(bytes([p[0] ^ 1]) + p[1:]).decode()
        for p in map(base64.b64decode, proof["proof"])
    ]
    with pytest.raises(offline.PublicProofError):
        offline.verify_proof_document(dict(proof, proof=flipped), vkey=vkey)
    # Someone else's bytes are not this entry's
    with pytest.raises(offline.PublicProofError):
        offline.verify_proof_document(proof, vkey=vkey, material=bytes(rows[0].material))


def test_bad_unknown_foreign_and_uncheckpointed_hashes(
    api_client, client, opted_in, other_workspace, system_actor
):
    url = _proof_url(opted_in.public_id)
    bad = api_client.get(url, {"hash": "xyz"})
    assert bad.status_code == 400 and "hash" in bad.json()["error"]["fields"]
    assert api_client.get(url).status_code == 400  # missing
    unknown = api_client.get(url, {"hash": "0" * 64})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "entry_not_found"
    # Another workspace's entry is not in this log
    services.public_verification_set(workspace=other_workspace, actor=system_actor, enabled=True)
    foreign = audit_rows(other_workspace)[-1]
    assert api_client.get(url, {"hash": foreign.hash_hex}).status_code == 404
    # An entry newer than the latest checkpoint: 409, covered after the next checkpoint
    newest = audit_rows(other_workspace)[-1]
    pending = api_client.get(_proof_url(other_workspace.public_id), {"hash": newest.hash_hex})
    assert pending.status_code == 409
    assert pending.json()["error"]["code"] == "entry_not_checkpointed"
    # The page answers the same, with the form
    assert client.get(_page(opted_in.public_id), {"hash": "xyz"}).status_code == 400
    assert client.get(_page(opted_in.public_id), {"hash": "0" * 64}).status_code == 404
    entry = audit_rows(opted_in)[0]
    shown = client.get(_page(opted_in.public_id), {"hash": entry.hash_hex})
    assert shown.status_code == 200 and b'data-testid="proof"' in shown.content


def test_rate_limited_per_address_with_retry_after(api_client, client, opted_in, monkeypatch):
    monkeypatch.setattr(throttle, "BURST", 3)
    monkeypatch.setattr(throttle, "RATE_PER_SECOND", 1)
    statuses = [api_client.get(_api(opted_in.public_id)).status_code for _ in range(3)]
    refused = api_client.get(_api(opted_in.public_id))
    page = client.get(_page(opted_in.public_id))
    other_address = api_client.get(_api(opted_in.public_id), REMOTE_ADDR="10.9.8.7")

    assert statuses == [200, 200, 200]
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert refused.json()["error"]["code"] == "throttled"
    assert page.status_code == 429 and int(page["Retry-After"]) >= 1
    assert other_address.status_code == 200


def test_an_advisory_lock_refuses_the_switch(workspace, admin_user):
    audit_services.audit_advisory_lock_enable(workspace=workspace, actor=admin_user)
    with pytest.raises(AuditLockedError):
        services.public_verification_set(workspace=workspace, actor=admin_user, enabled=True)
    assert not PublicVerification.objects.filter(workspace=workspace, enabled=True).exists()


def test_after_a_rotation_the_current_key_comes_first(api_client, opted_in, system_actor):
    old = audit_selectors.audit_verifier_key(workspace=opted_in)
    audit_services.audit_signing_key_rotate(workspace=opted_in, actor=system_actor)
    new = audit_selectors.audit_verifier_key(workspace=opted_in)

    keys = api_client.get(_api(opted_in.public_id)).json()["verifier_keys"]

    assert new != old
    assert [(key["vkey"], key["current"]) for key in keys] == [(new, True), (old, False)]
