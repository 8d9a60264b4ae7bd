"""The audit log at a million entries: verification speed and proof latency.

One workspace's log is grown to ``BENCH_AUDIT_ENTRIES`` entries (default 1,000,000) by the
bench's bulk loader, with a signed checkpoint at half and at the full size. Every figure is
checked before it is printed: ``audit_verify`` must call the log valid and both checkpoints
consistent, and every proof must verify against the signed root.
"""

import os
import random
import statistics
import time
from dataclasses import dataclass

from django.db import connection

from audit.merkle import ProofError, verify_consistency, verify_inclusion
from audit.models import AuditCheckpoint, AuditEntry, AuditMerkleNode
from audit.selectors import audit_consistency_proof, audit_inclusion_proof, audit_verify
from audit.services import audit_checkpoint_sign, audit_signing_key_ensure
from tests.bench.audit_loader import bulk_append
from workspaces.actors import SystemActor
from workspaces.models import Workspace
from workspaces.services import workspace_create

ACTOR = SystemActor("bench")
DEFAULT_ENTRIES = 1_000_000
VERIFY_RUNS = 3
PROOFS = 200
SEED = 20261123  # the same random proofs on every run


def entries_wanted() -> int:
    raw = os.environ.get("BENCH_AUDIT_ENTRIES", "")
    entries = int(raw.replace("_", "")) if raw.strip() else DEFAULT_ENTRIES
    if entries < 10:
        raise SystemExit(f"BENCH_AUDIT_ENTRIES must be at least 10, not {entries}")
    return entries


@dataclass(frozen=True)
class Load:
    workspace: Workspace
    entries: int
    nodes: int
    seconds: float  # the two bulk appends, without signing or VACUUM
    checkpoints: list[int]


def load(entries: int) -> Load:
    """A workspace whose log holds ``entries`` entries and checkpoints at half and all."""
    workspace = workspace_create(actor=ACTOR, name="bench audit at scale", owner=None)
    audit_signing_key_ensure(workspace=workspace, actor=ACTOR)  # entry 1: the key's creation
    seconds = 0.0
    for size in (entries // 2, entries):
        started = time.perf_counter()
        bulk_append(workspace, until=size, actor=ACTOR)
        seconds += time.perf_counter() - started
        # Signing checks a consistency proof from the previous checkpoint over the loaded
        # tree nodes, so the second one vouches for the loader's tree.
        audit_checkpoint_sign(workspace=workspace, actor=ACTOR)
    # As after any bulk load: visibility map and statistics, so reads below are not the
    # first to touch every page (setting hint bits) and plans use real row counts.
    with connection.cursor() as cursor:
        for model in (AuditEntry, AuditMerkleNode):
            cursor.execute(f"VACUUM (ANALYZE) {model._meta.db_table}")
    return Load(
        workspace=workspace,
        entries=AuditEntry.objects.filter(workspace=workspace).count(),
        nodes=AuditMerkleNode.objects.filter(workspace=workspace).count(),
        seconds=seconds,
        checkpoints=list(
            AuditCheckpoint.objects.filter(workspace=workspace)
            .order_by("size")
            .values_list("size", flat=True)
        ),
    )


@dataclass(frozen=True)
class VerifyRuns:
    seconds: list[float]
    result: dict  # the last run's

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def check(self, loaded: Load) -> str:
        result = self.result
        checkpoint = result["checkpoint"] or {}
        problems = []
        if result["chain_status"] != "valid":
            reasons = sorted({b["reason"] for b in result["broken_events"]})
            problems.append(f"BROKEN ({result['break_count']} breaks: {', '.join(reasons)})")
        if result["total_events"] != loaded.entries:
            problems.append(f"counted {result['total_events']:,} of {loaded.entries:,}")
        if not (checkpoint.get("consistent") and checkpoint.get("size") == loaded.entries):
            problems.append("latest checkpoint NOT consistent")
        runs = " / ".join(f"{s:.2f}" for s in self.seconds)
        verdict = "; ".join(problems) or (
            f"valid, checkpoints {' + '.join(f'{s:,}' for s in loaded.checkpoints)} consistent"
        )
        return f"{verdict}; runs {runs} s"


def verify(loaded: Load) -> VerifyRuns:
    seconds, result = [], {}
    for _ in range(VERIFY_RUNS):
        started = time.perf_counter()
        result = audit_verify(workspace=loaded.workspace)
        seconds.append(time.perf_counter() - started)
    return VerifyRuns(seconds, result)


@dataclass(frozen=True)
class Proofs:
    latencies: list[float]
    verified: int
    failures: list[str]

    def check(self, kind: str) -> str:
        failed = f"; FAILED: {self.failures[0]}" if self.failures else ""
        total = len(self.latencies)
        return f"{self.verified}/{total} {kind} verify against the signed root{failed}"


def _signed_head(workspace) -> AuditCheckpoint:
    return AuditCheckpoint.objects.filter(workspace=workspace).order_by("-size").first()


def inclusion_proofs(loaded: Load) -> Proofs:
    """Random leaves of the full tree; each proof checked against the signed checkpoint."""
    signed = _signed_head(loaded.workspace)
    rng = random.Random(SEED)
    latencies, verified, failures = [], 0, []
    for _ in range(PROOFS):
        index = rng.randrange(loaded.entries)
        started = time.perf_counter()
        proof = audit_inclusion_proof(workspace=loaded.workspace, index=index)
        latencies.append(time.perf_counter() - started)
        try:
            verify_inclusion(
                proof["leaf_hash"], index, signed.size, proof["proof"], bytes(signed.root)
            )
        except ProofError as error:
            failures.append(f"index {index}: {error}")
        else:
            verified += 1
    return Proofs(latencies, verified, failures)


def consistency_proofs(loaded: Load) -> Proofs:
    """From random earlier sizes to the full tree, checked against the signed root."""
    signed = _signed_head(loaded.workspace)
    rng = random.Random(SEED + 1)
    latencies, verified, failures = [], 0, []
    for _ in range(PROOFS):
        first = rng.randrange(1, loaded.entries)
        started = time.perf_counter()
        proof = audit_consistency_proof(workspace=loaded.workspace, first=first)
        latencies.append(time.perf_counter() - started)
        try:
            verify_consistency(
                first, signed.size, proof["proof"], proof["first_root"], bytes(signed.root)
            )
        except ProofError as error:
            failures.append(f"first {first}: {error}")
        else:
            verified += 1
    return Proofs(latencies, verified, failures)
