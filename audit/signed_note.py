"""Signed notes and transparency-log checkpoints, as pure functions (no Django, no database).

An auditor can check a published checkpoint with this file and ``cryptography`` alone.

Specifications, cited below by section:

* signed note: https://c2sp.org/signed-note (§Format, §Signatures, §Signature types)
* checkpoint: https://c2sp.org/tlog-checkpoint (§Note text, §Signatures)
* key strings: C2SP does not define them; the verifier key ``<name>+<key ID hex>+<base64(type
  || public key)>`` and signer key ``PRIVATE+KEY+<name>+<key ID hex>+<base64(type || seed)>``
  are those of golang.org/x/mod/sumdb/note, whose published vectors the tests reproduce.

Only Ed25519 (signature type ``0x01``) is implemented: §Signature types says implementations
SHOULD select only the types their design needs.

What ``open_note`` guarantees when it returns (otherwise it raises ``NoteError``, and on any
``str`` input nothing else):

* the note is well formed (§Format) and at least one signature by a given verifier verifies
  over exactly the returned ``text``;
* *every* signature whose key name and key ID match a given verifier was verified, and a single
  failure rejects the whole note (§Signatures says SHOULD; here it is always done);
* signatures by other keys, even ones sharing a name or an ID with a known key, are ignored
  for trust and listed in ``unverified`` (§Signatures: verifiers MUST ignore them).

Deliberately stricter than Go's implementation: base64 must be canonical (RFC 4648 §3.5: padded,
zero pad bits, no line breaks), key names may not contain control characters (they could never
appear in a valid note), and repeated signatures by a known key are each verified rather than
skipped.
"""

import base64
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ED25519 = 0x01
"""Signature type identifier byte of Ed25519 (signed-note §Signature types)."""

MAX_SIGNATURES = 100
"""Signature lines accepted per note: Go's limit; the spec requires at least 16 (§Format)."""

MAX_TREE_SIZE = 2**63 - 1
"""Largest tree size accepted: a signed 64-bit integer (Go's ``tlog``, PostgreSQL ``bigint``)."""

ROOT_HASH_SIZE = 32
"""Bytes in a root hash: the RFC 6962 Merkle tree uses SHA-256."""

_KEY_ID_SIZE = 4
_SIGNATURE_PREFIX = "— "  # em dash U+2014, space
_PRIVATE_KEY_PREFIX = "PRIVATE+KEY+"
_KEY_ID_HEX = re.compile(r"[0-9a-fA-F]{8}")  # Go parses it with strconv.ParseUint(s, 16, 32)
_TREE_SIZE = re.compile(r"0|[1-9][0-9]*")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")  # below U+0020, except newline


class NoteError(ValueError):
    """A malformed or unverifiable note, key or checkpoint; ``reason`` says why.

    Reasons never quote key material, so they are safe to log even for a mistyped signer key.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- Characters, names, base64 ------------------------------------------------------------------


def _is_utf8(value: str) -> bool:
    """Whether ``value`` encodes to UTF-8, i.e. holds no lone surrogate."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_characters(value: str, what: str) -> None:
    """Valid UTF-8 without ASCII control characters other than newline (signed-note §Format)."""
    if not isinstance(value, str):
        raise NoteError(f"{what} must be a string")
    if not _is_utf8(value):
        raise NoteError(f"{what} is not valid UTF-8")
    if _CONTROL.search(value):
        raise NoteError(f"{what} contains a control character other than newline")


def _check_name(name: str) -> None:
    """Key names are non-empty, without Unicode spaces or ``+`` (signed-note §Format).

    ``str.isspace`` covers every Unicode White_Space character. Control characters are refused
    too: a signed note may not contain them, so a name with one could never be used.
    """
    if not isinstance(name, str) or not name:
        raise NoteError("key name is empty")
    if "+" in name:
        raise NoteError("key name contains '+'")
    if any(character.isspace() for character in name):
        raise NoteError("key name contains a space character")
    _check_characters(name, "key name")


def _b64decode(value: str, what: str) -> bytes:
    """Standard base64 (RFC 4648 §4), accepted only in its canonical form (RFC 4648 §3.5).

    Every byte string thus has exactly one accepted encoding, so text comparisons of signature
    lines and root hashes are comparisons of their bytes.
    """
    try:
        raw = base64.b64decode(value, validate=True)  # non-ASCII text raises ValueError too
    except ValueError:
        raise NoteError(f"{what} is not valid base64") from None
    if base64.b64encode(raw).decode("ascii") != value:
        raise NoteError(f"{what} is not canonical base64")
    return raw


def _b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


# --- Keys ----------------------------------------------------------------------------------------


def _key_id(name: str, public_key: bytes) -> bytes:
    """``SHA-256(key name || 0x0A || 0x01 || public key)[:4]`` (signed-note §Ed25519 signatures)."""
    material = name.encode("utf-8") + b"\n" + bytes([ED25519]) + public_key
    return hashlib.sha256(material).digest()[:_KEY_ID_SIZE]


def _split_key(name: str, key_id_hex: str, key_b64: str, what: str) -> tuple[bytes, bytes]:
    """Check the fields of a key string; return ``(key ID, 32 key bytes)``, type byte removed."""
    _check_name(name)
    if not _KEY_ID_HEX.fullmatch(key_id_hex):
        raise NoteError(f"{what}: the key ID must be 8 hexadecimal digits")
    material = _b64decode(key_b64, f"{what}: key material")
    if not material or material[0] != ED25519:
        raise NoteError(f"{what}: unsupported signature type (only Ed25519, 0x01)")
    if len(material) != 1 + 32:
        raise NoteError(f"{what}: an Ed25519 key is 32 bytes")
    return bytes.fromhex(key_id_hex), material[1:]


class Verifier:
    """An Ed25519 public key under a key name. It checks signatures and cannot make them."""

    __slots__ = ("_key", "_key_id", "_name", "_public_bytes")

    def __init__(self, name: str, public_key: bytes) -> None:
        """The verifier for a raw 32-byte Ed25519 public key; its key ID is computed."""
        _check_name(name)
        if not isinstance(public_key, bytes) or len(public_key) != 32:
            raise NoteError("an Ed25519 public key is 32 bytes")
        try:
            self._key = Ed25519PublicKey.from_public_bytes(public_key)
        except ValueError:
            raise NoteError("not an Ed25519 public key") from None
        self._name = name
        self._public_bytes = public_key
        self._key_id = _key_id(name, public_key)

    @classmethod
    def from_vkey(cls, vkey: str) -> "Verifier":
        """Parse ``<name>+<key ID hex>+<base64(0x01 || public key)>``.

        The key ID must be the one derived from the name and key (signed-note §Signatures), so
        a verifier key cannot claim another key's ID.
        """
        if not isinstance(vkey, str):
            raise NoteError("verifier key must be a string")
        parts = vkey.split("+", 2)
        if len(parts) != 3:
            raise NoteError("verifier key must have the form <name>+<key ID>+<key>")
        key_id, public_key = _split_key(*parts, what="verifier key")
        verifier = cls(parts[0], public_key)
        if verifier.key_id != key_id:
            raise NoteError("verifier key: the key ID does not match the name and key")
        return verifier

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> bytes:
        """The 4-byte key ID that prefixes this key's signatures."""
        return self._key_id

    @property
    def verifier_key(self) -> str:
        """This key as a verifier key string (lowercase hex key ID), as Go writes it."""
        material = _b64encode(bytes([ED25519]) + self._public_bytes)
        return f"{self._name}+{self._key_id.hex()}+{material}"

    def verify_signature(self, text: str, signature: bytes) -> bool:
        """Whether ``signature`` (64 bytes, no key ID) is this key's RFC 8032 Ed25519 signature
        of the UTF-8 bytes of ``text``. Never raises on bad input; it is just not a signature."""
        try:
            self._key.verify(bytes(signature), text.encode("utf-8"))
        except (InvalidSignature, UnicodeEncodeError, TypeError, ValueError):
            return False
        return True

    def __repr__(self) -> str:
        return f"Verifier({self._name}+{self._key_id.hex()})"


class Signer:
    """An Ed25519 private key under a key name, producing signed notes.

    Its ``repr`` names the key; neither it nor any ``NoteError`` reveals the private seed.
    """

    __slots__ = ("_key", "_verifier")

    def __init__(self, name: str, seed: bytes) -> None:
        """The signer for a raw 32-byte Ed25519 private key seed (RFC 8032 §5.1.5)."""
        _check_name(name)
        if not isinstance(seed, bytes) or len(seed) != 32:
            raise NoteError("an Ed25519 private key seed is 32 bytes")
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self._verifier = Verifier(name, self._key.public_key().public_bytes_raw())

    @classmethod
    def from_key(cls, signer_key: str) -> "Signer":
        """Parse ``PRIVATE+KEY+<name>+<key ID hex>+<base64(0x01 || seed)>``.

        The key ID is checked against the public key derived from the seed, as Go does.
        """
        if not isinstance(signer_key, str) or not signer_key.startswith(_PRIVATE_KEY_PREFIX):
            raise NoteError(f"signer key must start with {_PRIVATE_KEY_PREFIX!r}")
        parts = signer_key.removeprefix(_PRIVATE_KEY_PREFIX).split("+", 2)
        if len(parts) != 3:
            raise NoteError("signer key must have the form PRIVATE+KEY+<name>+<key ID>+<key>")
        key_id, seed = _split_key(*parts, what="signer key")
        signer = cls(parts[0], seed)
        if signer.key_id != key_id:
            raise NoteError("signer key: the key ID does not match the name and key")
        return signer

    @property
    def name(self) -> str:
        return self._verifier.name

    @property
    def key_id(self) -> bytes:
        return self._verifier.key_id

    @property
    def verifier_key(self) -> str:
        """The public verifier key string to publish for this signer."""
        return self._verifier.verifier_key

    def sign(self, text: str) -> str:
        """The signed note: ``text``, a blank line and this key's signature line (§Format).

        ``text`` must end with a newline and must not contain control characters other than
        newline, so that every note this returns opens with ``open_note``.
        """
        _check_characters(text, "note text")
        if not text.endswith("\n"):
            raise NoteError("note text must end with a newline")
        signature = self._key.sign(text.encode("utf-8"))
        line = NoteSignature(self.name, self.key_id, signature).line
        return f"{text}\n{line}\n"

    def _signer_key(self) -> str:
        material = _b64encode(bytes([ED25519]) + self._key.private_bytes_raw())
        return f"{_PRIVATE_KEY_PREFIX}{self.name}+{self.key_id.hex()}+{material}"

    def __repr__(self) -> str:
        return f"Signer({self.name}+{self.key_id.hex()})"


def generate_signer(name: str) -> tuple[str, str]:
    """A new random Ed25519 key for ``name``: ``(signer key, verifier key)``.

    The signer key holds the private seed and must be kept secret.
    """
    signer = Signer(name, Ed25519PrivateKey.generate().private_bytes_raw())
    return signer._signer_key(), signer.verifier_key


# --- Notes ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: ``— <name> base64(key ID || signature)`` (signed-note §Signatures).

    ``verifier`` is the known key that verified it, or ``None`` for an unverified signature.
    """

    name: str
    key_id: bytes
    signature: bytes
    verifier: Verifier | None = None

    @property
    def line(self) -> str:
        """The signature line, without its newline."""
        return f"{_SIGNATURE_PREFIX}{self.name} {_b64encode(self.key_id + self.signature)}"


@dataclass(frozen=True)
class OpenedNote:
    """A note with at least one verified signature.

    ``text`` includes its final newline. ``verified`` holds one signature per known key that
    signed, ``unverified`` the distinct signatures by unknown keys; both in note order.
    """

    text: str
    verified: tuple[NoteSignature, ...]
    unverified: tuple[NoteSignature, ...]


def _parse_signature_line(line: str, number: int) -> NoteSignature:
    where = f"malformed note: signature line {number}"
    if not line.startswith(_SIGNATURE_PREFIX):
        raise NoteError(f"{where} does not start with an em dash and a space")
    name, space, blob = line.removeprefix(_SIGNATURE_PREFIX).partition(" ")
    if not space:
        raise NoteError(f"{where} has no space between key name and signature")
    try:
        _check_name(name)
    except NoteError as error:
        raise NoteError(f"{where}: {error.reason}") from None
    raw = _b64decode(blob, f"{where}: signature")
    if len(raw) <= _KEY_ID_SIZE:
        raise NoteError(f"{where}: signature is shorter than a key ID and one byte")
    return NoteSignature(name, raw[:_KEY_ID_SIZE], raw[_KEY_ID_SIZE:])


def open_note(note: str, verifiers: Sequence[Verifier]) -> OpenedNote:
    """Parse ``note`` and verify its signatures against ``verifiers`` (signed-note §Signatures).

    Raises ``NoteError`` when the note is malformed (§Format; more than ``MAX_SIGNATURES``
    lines counts as malformed), when a signature by a known key (same name *and* key ID) does
    not verify, when two given verifiers share the name and key ID of a signature (ambiguous,
    as in Go), or when no known key signed it. Signatures by unknown keys are never trusted.
    """
    _check_characters(note, "note")
    # The text ends at the last blank line: it keeps its final newline, drops the blank line.
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("malformed note: no blank line before the signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block:
        raise NoteError("malformed note: no signature lines")
    if not block.endswith("\n"):
        raise NoteError("malformed note: it must end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"malformed note: more than {MAX_SIGNATURES} signatures")

    known: dict[tuple[str, bytes], list[Verifier]] = {}
    for verifier in verifiers:
        known.setdefault((verifier.name, verifier.key_id), []).append(verifier)

    verified: dict[tuple[str, bytes], NoteSignature] = {}
    unverified: dict[str, NoteSignature] = {}
    for number, line in enumerate(lines, start=1):
        signature = _parse_signature_line(line, number)
        key = (signature.name, signature.key_id)
        label = f"{signature.name}+{signature.key_id.hex()}"
        candidates = known.get(key, [])
        if not candidates:
            unverified.setdefault(line, signature)
            continue
        if len(candidates) > 1:
            raise NoteError(f"ambiguous key {label}: more than one verifier has it")
        verifier = candidates[0]
        if not verifier.verify_signature(text, signature.signature):
            raise NoteError(f"invalid signature for key {label}")
        verified.setdefault(key, NoteSignature(*key, signature.signature, verifier))

    if not verified:
        raise NoteError("note has no verifiable signatures: no signature by a known key")
    return OpenedNote(text, tuple(verified.values()), tuple(unverified.values()))


# --- Checkpoints ---------------------------------------------------------------------------------


def _check_line(value: str, what: str) -> None:
    """A non-empty line of note text: no newline, no other control character."""
    _check_characters(value, what)
    if not value:
        raise NoteError(f"{what} is empty")
    if "\n" in value:
        raise NoteError(f"{what} contains a newline")


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: the body of a checkpoint note (tlog-checkpoint §Note text).

    Construction validates every field, so any ``Checkpoint`` has a well-formed ``to_text``.
    ``root`` is the RFC 6962 SHA-256 Merkle tree hash; extension lines are opaque (and NOT
    RECOMMENDED by the spec).
    """

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line(self.origin, "checkpoint origin")
        if type(self.size) is not int or not 0 <= self.size <= MAX_TREE_SIZE:
            raise NoteError(f"checkpoint tree size must be an integer from 0 to {MAX_TREE_SIZE}")
        if not isinstance(self.root, bytes | bytearray | memoryview):
            raise NoteError("checkpoint root hash must be bytes")
        object.__setattr__(self, "root", bytes(self.root))  # e.g. memoryview from a BinaryField
        if len(self.root) != ROOT_HASH_SIZE:
            raise NoteError(f"checkpoint root hash must be {ROOT_HASH_SIZE} bytes")
        if isinstance(self.extensions, str):
            raise NoteError("checkpoint extensions must be a sequence of lines")
        object.__setattr__(self, "extensions", tuple(self.extensions))
        for extension in self.extensions:
            _check_line(extension, "checkpoint extension line")

    def to_text(self) -> str:
        """Origin, decimal size, base64 root, then any extension lines; each newline-ended."""
        lines = [self.origin, str(self.size), _b64encode(self.root), *self.extensions]
        return "\n".join(lines) + "\n"

    @classmethod
    def from_text(cls, text: str) -> "Checkpoint":
        """Parse a checkpoint note text strictly; ``to_text`` gives back exactly ``text``.

        At least three non-empty lines, the text ending with a newline; the size in ASCII
        decimal without leading zeros (``0`` for the empty tree); the root hash in canonical
        base64 of exactly 32 bytes; extension lines non-empty.
        """
        _check_characters(text, "checkpoint text")
        if not text.endswith("\n"):
            raise NoteError("checkpoint text must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise NoteError("checkpoint text needs origin, tree size and root hash lines")
        origin, size, root, *extensions = lines
        if not _TREE_SIZE.fullmatch(size) or len(size) > len(str(MAX_TREE_SIZE)):
            raise NoteError("checkpoint tree size must be decimal digits without leading zeros")
        return cls(origin, int(size), _b64decode(root, "checkpoint root hash"), tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, signer: Signer) -> str:
    """The checkpoint as a note signed by ``signer`` (tlog-checkpoint §Signatures).

    The spec says the key name SHOULD equal the origin; that is the caller's choice of name.
    """
    return signer.sign(checkpoint.to_text())


def open_checkpoint(note: str, verifier: Verifier, *, origin: str | None = None) -> Checkpoint:
    """The checkpoint in ``note``, which ``verifier`` must have signed (``open_note`` rules).

    With ``origin``, the checkpoint's origin line must equal it exactly. Signatures by other
    keys (witness cosignatures, say) are ignored, as tlog-checkpoint §Signatures requires.
    """
    checkpoint = Checkpoint.from_text(open_note(note, [verifier]).text)
    if origin is not None and checkpoint.origin != origin:
        raise NoteError(f"checkpoint origin {checkpoint.origin!r} is not {origin!r}")
    return checkpoint
