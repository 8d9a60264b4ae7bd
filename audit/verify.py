"""Verify a workspace's log from its entries, its signed checkpoints and its verifier keys.

Pure: no Django, no database. The dashboard, ``GET /v1/audit/verify`` and the CLI feed it rows
from the database; the offline verifier feeds it an export file. Both get the same answer.

What it detects, and how:
- an edited entry — its hash no longer matches ``SHA-256(prev_hash ‖ material)``;
- a removed, inserted or reordered entry — idx gaps and broken ``prev_hash`` links;
- a rewritten chain (every hash recomputed by someone with database access) — the Merkle
  root at a checkpoint's size no longer matches the root that checkpoint signed;
- a truncated tail — fewer entries than a signed checkpoint covers;
- a forged checkpoint — its signature does not verify with the workspace's verifier key;
- equivocation — two validly signed checkpoints with the same size and different roots.
"""

import base64
import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from audit.merkle import EMPTY_ROOT
from audit.signed_note import Checkpoint, NoteError, Verifier, open_checkpoint


@dataclass(frozen=True)
class Break:
    idx: int | None  # None: about the log as a whole (e.g. a checkpoint)
    reason: str
    detail: str = ""

    def as_dict(self) -> dict:
        return {"idx": self.idx, "reason": self.reason, "detail": self.detail}


@dataclass(frozen=True)
class CheckpointResult:
    size: int
    root: bytes
    signature_valid: bool
    consistent: bool

    def as_dict(self) -> dict:
        return {
            "size": self.size,
            "root": base64.b64encode(self.root).decode(),
            "signature_valid": self.signature_valid,
            "consistent": self.consistent,
        }


@dataclass
class Report:
    total_events: int = 0
    root: bytes = b""
    breaks: list[Break] = field(default_factory=list)
    checkpoint: CheckpointResult | None = None  # the latest validly signed one

    @property
    def valid(self) -> bool:
        return not self.breaks

    @property
    def first_bad_idx(self) -> int | None:
        indices = [b.idx for b in self.breaks if b.idx is not None]
        return min(indices) if indices else None


#: Leaf hashes are gathered and hashed into the tree this many at a time: a power of two, so
#: every block after the first is a perfect subtree, hashed level by level in one pass.
LEAF_BLOCK = 4096


def verify_log(
    entries: Iterable[tuple[int, bytes | None, bytes, bytes]],
    *,
    checkpoints: Sequence[str] = (),
    verifier_keys: Sequence[str] = (),
    origin: str | None = None,
) -> Report:
    """Walk ``(idx, prev_hash, hash, material)`` rows in idx order once, then check every
    signed checkpoint note against the recomputed tree."""
    opened = _open_all(checkpoints, verifier_keys, origin)
    tree = StreamingTree(roots_at={cp.size for _, cp, _ in opened if cp is not None})
    breaks: list[Break] = []
    for leaves in _checked_leaves(entries, breaks):
        tree.extend(leaves)
    return _report(breaks, tree, opened)


def _checked_leaves(
    entries: Iterable[tuple[int, bytes | None, bytes, bytes]], breaks: list[Break]
) -> Iterator[bytes]:
    """Check each entry's idx, link and hash, appending what is wrong to ``breaks``; yield the
    entries' leaf hashes, concatenated, LEAF_BLOCK entries at a time.

    This loop runs once per entry, so it avoids calls: ``audit.chain.entry_hash`` and
    ``audit.merkle.leaf_hash`` are inlined (tests/audit/test_verify_fast.py holds them equal).
    """
    sha256 = hashlib.sha256
    leaves: list[bytes] = []
    expected_idx, previous = 0, None
    for idx, prev_hash, digest, material in entries:
        # Drivers may hand out memoryview or bytearray. Only those are converted: bytes(),
        # even of bytes, costs as much as all the checks below together.
        if not (
            type(material) is bytes
            and type(digest) is bytes
            and (prev_hash is None or type(prev_hash) is bytes)
        ):
            prev_hash = None if prev_hash is None else bytes(prev_hash)
            digest, material = bytes(digest), bytes(material)
        if idx != expected_idx:
            breaks.append(Break(idx, "gap", f"expected idx {expected_idx}"))
        if prev_hash != previous:
            breaks.append(Break(idx, "prev_hash_mismatch"))
        if sha256((prev_hash or b"") + material).digest() != digest:  # entry_hash
            breaks.append(Break(idx, "hash_mismatch"))
        leaves.append(sha256(b"\x00" + material).digest())  # leaf_hash
        if len(leaves) == LEAF_BLOCK:
            yield b"".join(leaves)
            leaves.clear()
        expected_idx, previous = idx + 1, digest
    if leaves:
        yield b"".join(leaves)


def _open_all(
    checkpoints: Sequence[str], verifier_keys: Sequence[str], origin: str | None
) -> list[tuple[str, Checkpoint | None, str]]:
    """Each note with its checkpoint if a verifier key's signature on it holds, else None and
    why not."""
    verifiers = [Verifier.from_vkey(vkey) for vkey in verifier_keys]
    opened: list[tuple[str, Checkpoint | None, str]] = []
    for note in checkpoints:
        try:
            opened.append((note, _open(note, verifiers, origin), ""))
        except NoteError as error:
            opened.append((note, None, str(error)))
    return opened


def _report(
    breaks: list[Break], tree: "StreamingTree", opened: list[tuple[str, Checkpoint | None, str]]
) -> Report:
    """The report on the walked entries (``breaks`` and ``tree``) against the checkpoints."""
    report = Report(total_events=tree.size, root=tree.root(), breaks=breaks)
    signed_roots: dict[int, bytes] = {}
    for _note, checkpoint, error in opened:
        if checkpoint is None:
            report.breaks.append(Break(None, "checkpoint_signature_invalid", error))
            continue
        if checkpoint.size in signed_roots and signed_roots[checkpoint.size] != checkpoint.root:
            report.breaks.append(
                Break(None, "checkpoint_equivocation", f"two roots signed for {checkpoint.size}")
            )
        signed_roots[checkpoint.size] = checkpoint.root
        consistent = tree.roots_at.get(checkpoint.size) == checkpoint.root
        if checkpoint.size > report.total_events:
            report.breaks.append(
                Break(
                    report.total_events,
                    "truncated",
                    f"a checkpoint covers {checkpoint.size} entries; the log has "
                    f"{report.total_events}",
                )
            )
        elif not consistent:
            report.breaks.append(
                Break(
                    None,
                    "checkpoint_root_mismatch",
                    f"the entries' root at size {checkpoint.size} is not the signed root",
                )
            )
        if report.checkpoint is None or checkpoint.size >= report.checkpoint.size:
            report.checkpoint = CheckpointResult(
                checkpoint.size, checkpoint.root, signature_valid=True, consistent=consistent
            )
    if report.checkpoint is None and any(cp is None for _, cp, _ in opened):
        report.checkpoint = CheckpointResult(0, b"", signature_valid=False, consistent=False)
    return report


class StreamingTree:
    """The Merkle Tree Hash (RFC 9162 §2.1.1) of leaf hashes appended in order, in O(log n)
    memory, recording the root at each size in ``roots_at`` as the tree passes it.

    The same frontier as ``audit.merkle.frontier_append`` keeps (the roots of the perfect
    subtrees covering [0, size), largest first), built for a verifier that wants nothing but
    roots: no argument checks, no list of completed nodes, and a whole block of leaves that
    forms a perfect subtree is hashed level by level in one pass (one list comprehension per
    level) rather than leaf by leaf. tests/audit/test_verify_fast.py checks it against
    ``root_from_leaf_hashes``, the RFC's recursive definition.
    """

    def __init__(self, roots_at: Iterable[int] = ()) -> None:
        self.size = 0
        self.roots_at: dict[int, bytes] = {}
        self._frontier: list[bytes] = []
        # Sizes whose root is wanted, the next one last (a tree of size 0 has no leaf to
        # record it after, as in the entry-by-entry walk this replaces).
        self._stops = sorted({size for size in roots_at if size > 0}, reverse=True)

    def extend(self, leaves: bytes) -> None:
        """Append concatenated 32-byte leaf hashes."""
        if len(leaves) % 32:
            raise ValueError(f"leaf hashes are 32 bytes each; got {len(leaves)} bytes")
        count, done = len(leaves) // 32, 0
        while done < count:
            # The widest block of leaves that is a perfect subtree of the tree: a power of two
            # no wider than the leaves left, and than the lowest set bit of the size (its start
            # must be a multiple of its width); nor may it pass the next size whose root is
            # wanted.
            width = count - done
            if self.size:
                width = min(width, self.size & -self.size)
            if self._stops:
                width = min(width, self._stops[-1] - self.size)
            width = 1 << (width.bit_length() - 1)
            self._push(_perfect_root(leaves[done * 32 : (done + width) * 32]), width)
            done += width
            if self._stops and self.size == self._stops[-1]:
                self.roots_at[self._stops.pop()] = self.root()

    def _push(self, node: bytes, width: int) -> None:
        """Add the perfect subtree ``node`` of ``width`` leaves at the end (self.size is a
        multiple of width): binary addition, as in frontier_append, from its level up."""
        frontier, size, level = self._frontier, self.size, width.bit_length() - 1
        frontier.append(node)
        while (size >> level) & 1:
            right = frontier.pop()
            frontier[-1] = hashlib.sha256(b"\x01" + frontier[-1] + right).digest()
            level += 1
        self.size = size + width

    def root(self) -> bytes:
        """MTH of the leaves so far (frontier_root of the frontier); EMPTY_ROOT when none."""
        if not self._frontier:
            return EMPTY_ROOT
        acc = self._frontier[-1]
        for node in reversed(self._frontier[:-1]):
            acc = hashlib.sha256(b"\x01" + node + acc).digest()
        return acc


def _perfect_root(level: bytes) -> bytes:
    """MTH of 2^k concatenated leaf hashes: pair them up level by level (node_hash inlined)."""
    sha256 = hashlib.sha256
    while len(level) > 32:
        level = b"".join(
            [sha256(b"\x01" + level[i : i + 64]).digest() for i in range(0, len(level), 64)]
        )
    return level


def _open(note: str, verifiers: list[Verifier], origin: str | None) -> Checkpoint:
    last_error: NoteError | None = None
    for verifier in verifiers:
        try:
            return open_checkpoint(note, verifier, origin=origin)
        except NoteError as error:
            last_error = error
    raise last_error or NoteError("no verifier key to check the checkpoint with")
