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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from audit.chain import entry_hash
from audit.merkle import frontier_append, frontier_root, leaf_hash
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


def verify_log(
    entries: Iterable[tuple[int, bytes | None, bytes, bytes]],
    *,
    checkpoints: Sequence[str] = (),
    verifier_keys: Sequence[str] = (),
    origin: str | None = None,
) -> Report:
    """Walk ``(idx, prev_hash, hash, material)`` rows in idx order once, then check every
    signed checkpoint note against the recomputed tree."""
    verifiers = [Verifier.from_vkey(vkey) for vkey in verifier_keys]
    opened: list[tuple[str, Checkpoint | None, str]] = []
    for note in checkpoints:
        try:
            opened.append((note, _open(note, verifiers, origin), ""))
        except NoteError as error:
            opened.append((note, None, str(error)))
    wanted_sizes = {checkpoint.size for _, checkpoint, _ in opened if checkpoint is not None}

    report = Report()
    roots_at: dict[int, bytes] = {}
    frontier: list[bytes] = []
    expected_idx, previous = 0, None
    for idx, prev_hash, digest, material in entries:
        prev_hash = None if prev_hash is None else bytes(prev_hash)
        digest, material = bytes(digest), bytes(material)
        if idx != expected_idx:
            report.breaks.append(Break(idx, "gap", f"expected idx {expected_idx}"))
        if prev_hash != previous:
            report.breaks.append(Break(idx, "prev_hash_mismatch"))
        if entry_hash(prev_hash, material) != digest:
            report.breaks.append(Break(idx, "hash_mismatch"))
        frontier, _ = frontier_append(frontier, report.total_events, leaf_hash(material))
        report.total_events += 1
        if report.total_events in wanted_sizes:
            roots_at[report.total_events] = frontier_root(frontier)
        expected_idx, previous = idx + 1, digest
    report.root = frontier_root(frontier)

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
        consistent = roots_at.get(checkpoint.size) == checkpoint.root
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


def _open(note: str, verifiers: list[Verifier], origin: str | None) -> Checkpoint:
    last_error: NoteError | None = None
    for verifier in verifiers:
        try:
            return open_checkpoint(note, verifier, origin=origin)
        except NoteError as error:
            last_error = error
    raise last_error or NoteError("no verifier key to check the checkpoint with")
