"""Signed notes and checkpoints: Go's published vectors, round trips, rejections, fuzzing.

The vectors come from golang.org/x/mod/sumdb/note (``note_test.go`` and the package
documentation); the example checkpoint from c2sp.org/tlog-checkpoint. No database is used.
"""

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audit.signed_note import (
    MAX_SIGNATURES,
    MAX_TREE_SIZE,
    Checkpoint,
    NoteError,
    NoteSignature,
    Signer,
    Verifier,
    generate_signer,
    open_checkpoint,
    open_note,
    sign_checkpoint,
)

# --- golang.org/x/mod/sumdb/note vectors -------------------------------------------------------

PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_B64 = (
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
)
ENOCH_B64 = (
    "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ="
)
PETER_SIG = f"— PeterNeumann {PETER_B64}\n"
ENOCH_SIG = f"— EnochRoot {ENOCH_B64}\n"
PETER_NOTE = TEXT + "\n" + PETER_SIG

# --- c2sp.org/tlog-checkpoint example (its signing key is not published) -----------------------

SOFA_TEXT = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
SOFA_NOTE = (
    SOFA_TEXT + "\n— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoR"
    "De4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def with_sig_bytes(signature_line: str, mutate) -> str:
    """The signature line with its decoded ``key ID || signature`` bytes passed through mutate."""
    prefix, blob = signature_line.rstrip("\n").rsplit(" ", 1)
    return f"{prefix} {b64(mutate(base64.b64decode(blob)))}\n"


@pytest.fixture(scope="module")
def peter():
    return Verifier.from_vkey(PETER_VKEY)


@pytest.fixture(scope="module")
def enoch():
    return Verifier.from_vkey(ENOCH_VKEY)


@pytest.fixture(scope="module")
def log_keys():
    signer_key, verifier_key = generate_signer("tracklayer.example/ws/42")
    return Signer.from_key(signer_key), Verifier.from_vkey(verifier_key)


# --- Keys -----------------------------------------------------------------------------------------


def test_go_verifier_key_parses(peter):
    assert peter.name == "PeterNeumann"
    assert peter.key_id == bytes.fromhex("c74f20a3")
    assert peter.verifier_key == PETER_VKEY


def test_go_signer_key_parses_and_derives_the_published_verifier_key():
    signer = Signer.from_key(PETER_SKEY)

    assert signer.name == "PeterNeumann"
    assert signer.key_id == bytes.fromhex("c74f20a3")
    assert signer.verifier_key == PETER_VKEY


def test_key_id_is_sha256_of_name_newline_type_and_key():
    material = base64.b64decode(PETER_VKEY.split("+", 2)[2])  # 0x01 || public key
    assert material[0] == 0x01
    assert hashlib.sha256(b"PeterNeumann\n" + material).digest()[:4] == bytes.fromhex("c74f20a3")
    # Go's test adjusts the key ID of two bad keys; the same formula reproduces both IDs.
    for vkey in [
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ]:
        name, key_id, key = vkey.split("+", 2)
        digest = hashlib.sha256(name.encode() + b"\n" + base64.b64decode(key)).digest()
        assert digest[:4].hex() == key_id


def test_go_bad_length_and_unknown_type_keys_are_rejected():
    with pytest.raises(NoteError):  # wrong length, key ID adjusted (and non-canonical base64)
        Verifier.from_vkey(
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
        )
    with pytest.raises(NoteError, match="unsupported signature type"):
        Verifier.from_vkey("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
    material = base64.b64decode(PETER_VKEY.split("+", 2)[2]) + b"\x00"  # 33 key bytes
    key_id = hashlib.sha256(b"PeterNeumann\n" + material).digest()[:4].hex()
    with pytest.raises(NoteError, match="32 bytes"):
        Verifier.from_vkey(f"PeterNeumann+{key_id}+{b64(material)}")


def manglings(key: str):
    """Go's TestNewVerifier/TestNewSigner: every proper substring, every character + 1."""
    for i in range(len(key) + 1):
        for j in range(i + 1, len(key) + 1):
            if (i, j) != (0, len(key)):
                yield key[i:j]
    for i in range(len(key)):
        yield key[:i] + chr(ord(key[i]) + 1) + key[i + 1 :]


def test_go_verifier_key_manglings_are_rejected():
    accepted = []
    for mangled in manglings(PETER_VKEY):
        try:
            Verifier.from_vkey(mangled)
        except NoteError:
            continue
        accepted.append(mangled)
    assert accepted == []


def test_go_signer_key_manglings_are_rejected():
    accepted = []
    for mangled in manglings(PETER_SKEY):
        try:
            Signer.from_key(mangled)
        except NoteError:
            continue
        accepted.append(mangled)
    assert accepted == []


def test_generated_keys_are_consistent_and_in_go_format(log_keys):
    signer_key, verifier_key = generate_signer("example.com/log")
    signer, verifier = Signer.from_key(signer_key), Verifier.from_vkey(verifier_key)
    name, key_id, material = signer_key.removeprefix("PRIVATE+KEY+").split("+", 2)

    assert signer_key.startswith("PRIVATE+KEY+example.com/log+")
    assert (name, key_id) == ("example.com/log", signer.key_id.hex())
    assert len(base64.b64decode(material)) == 33 and base64.b64decode(material)[0] == 0x01
    assert signer.verifier_key == verifier_key == verifier.verifier_key
    assert (signer.name, signer.key_id) == (verifier.name, verifier.key_id)
    assert open_note(signer.sign("hi\n"), [verifier]).text == "hi\n"
    assert generate_signer("example.com/log") != (signer_key, verifier_key)


def test_name_and_key_id_mismatches_are_rejected():
    name, key_id, material = PETER_VKEY.split("+")
    with pytest.raises(NoteError, match="key ID does not match"):
        Verifier.from_vkey(f"PeterNeuman+{key_id}+{material}")
    with pytest.raises(NoteError, match="key ID does not match"):
        Verifier.from_vkey(f"{name}+c74f20a4+{material}")
    with pytest.raises(NoteError, match="key ID does not match"):
        Signer.from_key(PETER_SKEY.replace("PeterNeumann", "EnochRoot"))


def test_key_id_in_either_case_is_accepted_as_go_does():
    assert Verifier.from_vkey(PETER_VKEY.replace("c74f20a3", "C74F20A3")).key_id == bytes.fromhex(
        "c74f20a3"
    )


@pytest.mark.parametrize(
    "vkey",
    [
        "",
        "PeterNeumann",
        "PeterNeumann+c74f20a3",
        "PeterNeumann+0xc74f20+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f_20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW\n",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW==",
        "PeterNeumann+c74f20a3+",
        "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ],
)
def test_malformed_verifier_keys_are_rejected(vkey):
    with pytest.raises(NoteError):
        Verifier.from_vkey(vkey)


@pytest.mark.parametrize(
    "name",
    ["", "a+b", "a b", "a\tb", "a\nb", "a\u00a0b", "a\u2003b", "a\u3000b", "a\x00b", "a\ud800"],
)
def test_invalid_key_names_are_rejected(name):
    with pytest.raises(NoteError, match="key name"):
        generate_signer(name)


def test_secrets_stay_out_of_reprs_and_errors():
    seed_b64 = PETER_SKEY.rsplit("+", 1)[1]
    assert seed_b64 not in repr(Signer.from_key(PETER_SKEY))
    for mangled in [PETER_SKEY.replace("c74f20a3", "c74f20a4"), PETER_SKEY[:-1]]:
        with pytest.raises(NoteError) as caught:
            Signer.from_key(mangled)
        assert seed_b64[:8] not in str(caught.value)


def test_note_error_is_a_value_error_with_a_reason():
    with pytest.raises(ValueError) as caught:
        Verifier.from_vkey("nope")
    assert isinstance(caught.value, NoteError)
    assert caught.value.reason == str(caught.value)


def test_verify_signature_is_a_plain_predicate(peter):
    signature = base64.b64decode(PETER_B64)[4:]

    assert peter.verify_signature(TEXT, signature)
    assert not peter.verify_signature(TEXT.upper(), signature)
    assert not peter.verify_signature(TEXT, signature[:-1])
    assert not peter.verify_signature(TEXT, bytes(64))
    assert not peter.verify_signature("\ud800\n", signature)


# --- Signing and opening: Go's TestSign and TestOpen ----------------------------------------------


def test_signing_the_go_text_reproduces_the_go_note():
    assert Signer.from_key(PETER_SKEY).sign(TEXT) == PETER_NOTE


def test_go_note_verifies(peter):
    opened = open_note(PETER_NOTE, [peter])

    assert opened.text == TEXT
    signature = base64.b64decode(PETER_B64)[4:]
    assert opened.verified == (
        NoteSignature("PeterNeumann", bytes.fromhex("c74f20a3"), signature, verifier=peter),
    )
    assert opened.verified[0].line + "\n" == PETER_SIG
    assert opened.unverified == ()


def test_go_open_one_verified_one_unknown(peter):
    opened = open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [peter])

    assert [s.name for s in opened.verified] == ["PeterNeumann"]
    assert [(s.name, s.key_id.hex(), s.verifier) for s in opened.unverified] == [
        ("EnochRoot", "af0cfe78", None)
    ]


def test_go_open_both_verified(peter, enoch):
    opened = open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [peter, enoch])

    assert [s.verifier for s in opened.verified] == [peter, enoch]
    assert opened.unverified == ()


def test_go_open_both_unknown_is_rejected():
    with pytest.raises(NoteError, match="no verifiable signatures"):
        open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [])


def test_go_open_ambiguous_verifiers(peter, enoch):
    with pytest.raises(NoteError, match="ambiguous key EnochRoot\\+af0cfe78"):
        open_note(TEXT + "\n" + ENOCH_SIG, [enoch, peter, enoch])
    # A duplicated verifier that no signature uses does not matter.
    assert open_note(PETER_NOTE, [enoch, peter, enoch]).text == TEXT


def test_go_open_signature_limit(peter):
    assert len(open_note(TEXT + "\n" + PETER_SIG * MAX_SIGNATURES, [peter]).verified) == 1
    for verifiers in ([peter], []):
        with pytest.raises(NoteError, match="more than 100 signatures"):
            open_note(TEXT + "\n" + PETER_SIG * (MAX_SIGNATURES + 1), verifiers)


def test_go_open_invalid_signature(peter):
    with pytest.raises(NoteError, match="invalid signature for key PeterNeumann\\+c74f20a3"):
        open_note(TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:], [peter])


def test_go_open_duplicates_are_listed_once(peter):
    enoch_abcd = ENOCH_SIG[:60] + "ABCD" + ENOCH_SIG[60:]
    note = TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG + enoch_abcd

    opened = open_note(note, [peter])

    assert [s.line + "\n" for s in opened.verified] == [PETER_SIG]
    assert [s.line + "\n" for s in opened.unverified] == [ENOCH_SIG, enoch_abcd]


@pytest.mark.parametrize(
    "note",
    [
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + TEXT + "\n" + PETER_SIG,
        "\udcff" + TEXT + "\n" + PETER_SIG,  # Go's "\xff": invalid UTF-8
        TEXT + "\n" + "— Bad Name " + PETER_B64,
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
    ],
)
def test_go_malformed_notes(note, peter):
    with pytest.raises(NoteError):
        open_note(note, [peter])


# --- Round trips ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "hi\n",
        "\n",
        "paragraph\n\nafter a blank line\n",
        "ends with a blank line\n\n",
        "— looks like a signature line\n",
        "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n"
        "\ned è subito sera.\n",
        "emoji 😀, DEL \x7f, NBSP \u00a0\n",
    ],
)
def test_sign_then_open_round_trips(text, log_keys):
    signer, verifier = log_keys
    note = signer.sign(text)

    opened = open_note(note, [verifier])

    assert note == f"{text}\n{opened.verified[0].line}\n"
    assert opened.text == text


def test_cosigned_note_opens_with_either_key(log_keys, peter):
    signer, verifier = log_keys
    note = signer.sign(TEXT) + PETER_SIG

    assert [s.verifier for s in open_note(note, [verifier]).verified] == [verifier]
    assert [s.verifier for s in open_note(note, [peter]).verified] == [peter]
    assert len(open_note(note, [peter, verifier]).verified) == 2


def test_sign_refuses_text_that_cannot_be_a_note(log_keys):
    signer, _ = log_keys
    for text in ["", "no final newline", "carriage\r\nreturn\n", "nul\x00\n", "\ud800\n"]:
        with pytest.raises(NoteError):
            signer.sign(text)


# --- Rejections -----------------------------------------------------------------------------------


def test_tampered_text_is_rejected(peter):
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(PETER_NOTE.replace("answer", "Answer"), [peter])
    with pytest.raises(NoteError, match="invalid signature"):
        open_note("extra line\n" + PETER_NOTE, [peter])


def test_tampered_signature_is_rejected(peter):
    def flip_last_bit(raw):
        return raw[:-1] + bytes([raw[-1] ^ 1])

    with pytest.raises(NoteError, match="invalid signature"):
        open_note(TEXT + "\n" + with_sig_bytes(PETER_SIG, flip_last_bit), [peter])


def test_wrong_key_is_rejected(log_keys):
    signer, _ = log_keys
    _, other_vkey = generate_signer(signer.name)  # same name, different key and key ID
    with pytest.raises(NoteError, match="no verifiable signatures"):
        open_note(signer.sign(TEXT), [Verifier.from_vkey(other_vkey)])


def test_unknown_key_only_is_rejected(enoch):
    with pytest.raises(NoteError, match="no verifiable signatures"):
        open_note(PETER_NOTE, [enoch])


def test_a_signature_sharing_only_the_key_id_or_only_the_name_is_ignored(peter):
    # signed-note §Signatures: unknown unless name *and* key ID match; then it is not checked.
    other_id = with_sig_bytes(PETER_SIG, lambda raw: b"\x00\x00\x00\x00" + raw[4:])
    other_name = PETER_SIG.replace("PeterNeumann", "PeterNeuman")
    for line in (other_id, other_name):
        with pytest.raises(NoteError, match="no verifiable signatures"):
            open_note(TEXT + "\n" + line, [peter])
        opened = open_note(TEXT + "\n" + line + PETER_SIG, [peter])
        assert [s.line + "\n" for s in opened.unverified] == [line]


def test_a_bad_signature_by_a_known_key_spoils_the_note_even_next_to_a_good_one(peter):
    # Go skips a known key's repeated signatures unchecked; here each one is verified.
    bad = with_sig_bytes(PETER_SIG, lambda raw: raw[:-1] + bytes([raw[-1] ^ 1]))
    for note in (TEXT + "\n" + PETER_SIG + bad, TEXT + "\n" + bad + PETER_SIG):
        with pytest.raises(NoteError, match="invalid signature"):
            open_note(note, [peter])


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("- PeterNeumann " + PETER_B64, "em dash"),
        ("—PeterNeumann " + PETER_B64, "em dash"),
        ("—\u00a0PeterNeumann " + PETER_B64, "em dash"),
        ("— PeterNeumann", "no space"),
        ("—  " + PETER_B64, "key name is empty"),
        ("— Peter+Neumann " + PETER_B64, "'\\+'"),
        ("— PeterNeumann\u00a0x " + PETER_B64, "space"),
        ("— PeterNeumann " + PETER_B64 + " ", "base64"),
        ("— PeterNeumann " + PETER_B64[:-1], "base64"),
        ("— PeterNeumann " + PETER_B64.replace("/", "_"), "base64"),
        ("— PeterNeumann " + PETER_B64[:-2] + "N=", "canonical"),
        ("— PeterNeumann AAAAAA==", "shorter than a key ID"),
        ("— PeterNeumann ", "base64|shorter"),
    ],
)
def test_malformed_signature_lines_are_rejected(line, reason, peter):
    with pytest.raises(NoteError, match=reason):
        open_note(f"{TEXT}\n{line}\n", [peter])


def test_missing_final_newline_is_rejected(peter):
    with pytest.raises(NoteError, match="end with a newline"):
        open_note(PETER_NOTE[:-1], [peter])
    with pytest.raises(NoteError):
        open_note(PETER_NOTE + "\n", [peter])  # the signatures would be empty


def test_crlf_notes_are_rejected(peter):
    with pytest.raises(NoteError, match="control character"):
        open_note(PETER_NOTE.replace("\n", "\r\n"), [peter])


# --- Checkpoints ----------------------------------------------------------------------------------


def test_spec_example_checkpoint_parses_and_reserialises_exactly():
    checkpoint = Checkpoint.from_text(SOFA_TEXT)

    assert checkpoint.origin == "example.com/behind-the-sofa"
    assert checkpoint.size == 20852163
    assert checkpoint.root == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert checkpoint.extensions == ()
    assert checkpoint.to_text() == SOFA_TEXT


def test_spec_example_checkpoint_note_is_well_formed_but_its_key_is_unknown(peter):
    with pytest.raises(NoteError, match="no verifiable signatures"):
        open_note(SOFA_NOTE, [peter])
    with pytest.raises(NoteError, match="no verifiable signatures"):
        open_checkpoint(SOFA_NOTE, peter)


def test_checkpoint_round_trip(log_keys):
    signer, verifier = log_keys
    checkpoint = Checkpoint(signer.name, 3, hashlib.sha256(b"root").digest(), ("ext one", "x"))

    note = sign_checkpoint(checkpoint, signer)

    assert note.startswith(f"{signer.name}\n3\n{b64(checkpoint.root)}\next one\nx\n\n— ")
    assert open_checkpoint(note, verifier, origin=signer.name) == checkpoint
    assert Checkpoint.from_text(checkpoint.to_text()) == checkpoint


def test_empty_and_largest_trees(log_keys):
    signer, verifier = log_keys
    for size in (0, 1, MAX_TREE_SIZE):
        checkpoint = Checkpoint("o", size, bytes(32))
        assert open_checkpoint(sign_checkpoint(checkpoint, signer), verifier) == checkpoint
    assert Checkpoint.from_text(f"o\n0\n{b64(bytes(32))}\n").size == 0


def test_cosigned_checkpoint_opens_with_the_log_key(log_keys, peter):
    signer, verifier = log_keys
    checkpoint = Checkpoint(signer.name, 7, bytes(range(32)))
    note = sign_checkpoint(checkpoint, signer) + PETER_SIG  # e.g. a witness cosignature

    assert open_checkpoint(note, verifier) == checkpoint
    with pytest.raises(NoteError, match="invalid signature"):
        open_checkpoint(note, peter)  # Peter's signature is over other text


def test_origin_mismatch_is_rejected(log_keys):
    signer, verifier = log_keys
    note = sign_checkpoint(Checkpoint("tracklayer.example/ws/41", 1, bytes(32)), signer)

    with pytest.raises(NoteError, match="origin"):
        open_checkpoint(note, verifier, origin="tracklayer.example/ws/42")
    with pytest.raises(NoteError, match="origin"):
        open_checkpoint(note, verifier, origin="tracklayer.example/ws/4")


def test_open_checkpoint_needs_the_given_key(log_keys, enoch):
    signer, _ = log_keys
    note = sign_checkpoint(Checkpoint(signer.name, 1, bytes(32)), signer)
    with pytest.raises(NoteError, match="no verifiable signatures"):
        open_checkpoint(note, enoch)


def test_a_signed_note_that_is_not_a_checkpoint_is_rejected(peter):
    with pytest.raises(NoteError, match="tree size"):
        open_checkpoint(PETER_NOTE, peter)


ROOT = b64(bytes(32))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (f"o\n01\n{ROOT}\n", "leading zeros"),
        (f"o\n00\n{ROOT}\n", "leading zeros"),
        (f"o\n+1\n{ROOT}\n", "tree size"),
        (f"o\n-1\n{ROOT}\n", "tree size"),
        (f"o\n 1\n{ROOT}\n", "tree size"),
        (f"o\n1_000\n{ROOT}\n", "tree size"),
        (f"o\n\u0661\n{ROOT}\n", "tree size"),  # ARABIC-INDIC DIGIT ONE
        (f"o\n\n{ROOT}\n", "tree size"),
        (f"o\n{MAX_TREE_SIZE + 1}\n{ROOT}\n", "tree size"),
        (f"o\n{'9' * 5000}\n{ROOT}\n", "tree size"),
        (f"o\n1\n{b64(bytes(31))}\n", "32 bytes"),
        (f"o\n1\n{b64(bytes(33))}\n", "32 bytes"),
        ("o\n1\n\n", "32 bytes"),
        (f"o\n1\n{ROOT[:-1]}\n", "base64"),
        (f"o\n1\n{ROOT[:-2]}B=\n", "canonical"),
        (f"o\n1\n{ROOT.replace('A', '-', 1)}\n", "base64"),
        (f"\n1\n{ROOT}\n", "origin is empty"),
        (f"o\n1\n{ROOT}\n\n", "extension line is empty"),
        (f"o\n1\n{ROOT}\nx\n\ny\n", "extension line is empty"),
        (f"o\n1\n{ROOT}", "end with a newline"),
        ("o\n1\n", "needs origin"),
        ("", "end with a newline"),
        (f"o\r\n1\r\n{ROOT}\r\n", "control character"),
    ],
)
def test_malformed_checkpoints_are_rejected(text, reason):
    with pytest.raises(NoteError, match=reason):
        Checkpoint.from_text(text)


@pytest.mark.parametrize(
    "fields",
    [
        ("", 1, bytes(32)),
        ("a\nb", 1, bytes(32)),
        ("o", -1, bytes(32)),
        ("o", True, bytes(32)),
        ("o", 1.0, bytes(32)),
        ("o", MAX_TREE_SIZE + 1, bytes(32)),
        ("o", 1, bytes(31)),
        ("o", 1, b64(bytes(32))),
        ("o", 1, bytes(32), ("",)),
        ("o", 1, bytes(32), ("a\nb",)),
        ("o", 1, bytes(32), "ext"),
    ],
)
def test_invalid_checkpoints_cannot_be_constructed(fields):
    with pytest.raises(NoteError):
        Checkpoint(*fields)


def test_checkpoint_accepts_bytes_like_roots_and_listed_extensions():
    checkpoint = Checkpoint("o", 1, memoryview(bytes(32)), ["e"])

    assert checkpoint.root == bytes(32) and type(checkpoint.root) is bytes
    assert checkpoint.extensions == ("e",)


def test_origins_may_hold_spaces_and_plus_signs():
    # tlog-checkpoint §Note text: origins SHOULD avoid them; clients MUST NOT assume it.
    assert Checkpoint.from_text(f"a b+c\n1\n{ROOT}\n").origin == "a b+c"


# --- Properties -----------------------------------------------------------------------------------

NOTE_ALPHABET = [*"—- +/=\nAQx0PeterNeumann", "\r", "\x00", "\u00a0", "\udcff", "😀"]
note_like = st.text(alphabet=st.sampled_from(NOTE_ALPHABET)) | st.text()


@given(note_like)
def test_open_note_raises_only_note_error(note):
    peter = Verifier.from_vkey(PETER_VKEY)
    try:
        opened = open_note(note, [peter])
    except NoteError:
        return
    assert opened.verified and opened.text == TEXT  # only the published signature verifies


@given(
    st.lists(
        st.tuples(
            st.integers(0, len(PETER_NOTE)),
            st.sampled_from(["insert", "delete", "replace"]),
            st.sampled_from(NOTE_ALPHABET),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_go_note_raises_only_note_error(edits):
    note = PETER_NOTE
    for position, edit, character in edits:
        position = min(position, len(note))
        if edit == "insert":
            note = note[:position] + character + note[position:]
        elif edit == "delete":
            note = note[:position] + note[position + 1 :]
        else:
            note = note[:position] + character + note[position + 1 :]
    try:
        opened = open_note(note, [Verifier.from_vkey(PETER_VKEY)])
    except NoteError:
        return
    assert opened.text == TEXT


CHECKPOINT_ALPHABET = [*"0123456789o\n =+/AB", "\r", "\x00", "\udcff", "\u0661"]
checkpoint_like = (
    st.text(alphabet=st.sampled_from(CHECKPOINT_ALPHABET))
    | st.text()
    | st.builds(
        lambda origin, size, root, rest: f"{origin}\n{size}\n{root}\n{rest}",
        st.text(max_size=8),
        st.sampled_from(["0", "1", "01", "-0", "20852163", str(MAX_TREE_SIZE), ""]),
        st.sampled_from([ROOT, b64(bytes(31)), ROOT[:-2] + "B=", ""]),
        st.text(alphabet=st.sampled_from(CHECKPOINT_ALPHABET), max_size=8),
    )
)


@given(checkpoint_like)
def test_checkpoint_from_text_raises_only_note_error_and_is_canonical(text):
    try:
        checkpoint = Checkpoint.from_text(text)
    except NoteError:
        return
    assert checkpoint.to_text() == text


lines = st.text(min_size=1).filter(lambda s: "\n" not in s and s.isprintable())


@given(
    st.builds(
        Checkpoint,
        origin=lines,
        size=st.integers(0, MAX_TREE_SIZE),
        root=st.binary(min_size=32, max_size=32),
        extensions=st.lists(lines, max_size=3).map(tuple),
    )
)
def test_any_checkpoint_survives_signing_and_opening(checkpoint):
    signer = Signer.from_key(PETER_SKEY)
    note = sign_checkpoint(checkpoint, signer)

    assert Checkpoint.from_text(checkpoint.to_text()) == checkpoint
    assert open_checkpoint(note, Verifier.from_vkey(PETER_VKEY), origin=checkpoint.origin) == (
        checkpoint
    )
