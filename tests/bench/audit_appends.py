"""Audit log appends under concurrency, and the speed of verifying the chain.

Each writer is a thread with its own database connection; each append is one
``transaction.atomic()`` around ``audit_record``, as in a service. Writers on one workspace
queue on its ``AuditLogHead`` row lock; writers on different workspaces should not.
"""

import sys
import threading
import time
from dataclasses import dataclass, field

from django.db import DatabaseError, connection, transaction

from audit.models import AuditEntry
from audit.selectors import audit_chain_breaks, audit_head
from audit.services import AuditEvent, audit_record, audit_record_many
from workspaces.actors import SystemActor
from workspaces.models import Workspace
from workspaces.services import workspace_create

ACTOR = SystemActor("bench")
RUN_SECONDS = 2.5


@dataclass
class Writer:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    finished_at: float = 0.0


@dataclass(frozen=True)
class Verification:
    logs: int
    entries: int
    contiguous: bool  # in every log, idx is exactly 0..n-1 and the head's size is n
    breaks: int  # what audit_chain_breaks found, all logs together

    def summary(self) -> str:
        if not self.contiguous:
            idx = "idx NOT contiguous"
        elif self.logs == 1:
            idx = f"idx 0..{self.entries - 1} contiguous"
        else:
            idx = f"idx 0..n-1 contiguous in all {self.logs} logs"
        return f"{idx}; forks/breaks: {self.breaks}"


@dataclass(frozen=True)
class AppendRun:
    appends: int
    seconds: float
    latencies: list[float]
    errors: list[str]
    entries_before: int
    verification: Verification

    @property
    def per_second(self) -> float:
        return self.appends / self.seconds if self.seconds > 0 else 0.0

    def check(self) -> str:
        notes = [self.verification.summary()]
        if self.errors:
            notes.append(f"errors: {len(self.errors)}")
        if self.verification.entries != self.entries_before + self.appends:
            notes.append("entries != appends made")
        return "; ".join(notes)


def new_workspace(name: str) -> Workspace:
    """A workspace whose log holds its genesis entry (``workspace.created``, idx 0)."""
    return workspace_create(actor=ACTOR, name=name, owner=None)


def _append_until_deadline(
    workspace: Workspace, number: int, barrier: threading.Barrier, clock: dict, out: Writer
) -> None:
    try:
        connection.ensure_connection()  # connecting is not part of the figure
        barrier.wait(timeout=60)
        deadline = clock["start"] + RUN_SECONDS
        while (started := time.perf_counter()) < deadline:
            try:
                with transaction.atomic():
                    audit_record(
                        workspace=workspace,
                        actor=ACTOR,
                        event_type="bench.append",
                        resource_type="bench_writer",
                        resource_id=str(number),
                        payload={"writer": number, "n": len(out.latencies)},
                    )
            except DatabaseError as error:
                out.errors.append(f"{type(error).__name__}: {error}")
            else:
                out.latencies.append(time.perf_counter() - started)
        out.finished_at = time.perf_counter()
    except Exception as error:
        barrier.abort()
        out.errors.append(f"{type(error).__name__}: {error}")
    finally:
        connection.close()  # this thread's own connection


def run_writers(workspaces: list[Workspace]) -> AppendRun:
    """One writer thread per item of ``workspaces`` (repeat a workspace to share it)."""
    logs = list(dict.fromkeys(workspaces))
    entries_before = AuditEntry.objects.filter(workspace__in=logs).count()
    clock: dict[str, float] = {}
    barrier = threading.Barrier(
        len(workspaces), action=lambda: clock.__setitem__("start", time.perf_counter())
    )
    writers = [Writer() for _ in workspaces]
    threads = [
        threading.Thread(
            target=_append_until_deadline, args=(workspace, number, barrier, clock, writers[number])
        )
        for number, workspace in enumerate(workspaces)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    errors = [error for writer in writers for error in writer.errors]
    for error in errors[:3]:
        print(f"  writer error: {error}", file=sys.stderr)
    latencies = [latency for writer in writers for latency in writer.latencies]
    seconds = max(writer.finished_at for writer in writers) - clock.get("start", 0.0)
    verifications = [verify(workspace) for workspace in logs]
    return AppendRun(
        appends=len(latencies),
        seconds=seconds,
        latencies=latencies,
        errors=errors,
        entries_before=entries_before,
        verification=Verification(
            logs=len(logs),
            entries=sum(v.entries for v in verifications),
            contiguous=all(v.contiguous for v in verifications),
            breaks=sum(v.breaks for v in verifications),
        ),
    )


def verify(workspace: Workspace) -> Verification:
    """idx is exactly 0..n-1, the head agrees, and the hash chain has no break."""
    idxs = list(
        AuditEntry.objects.filter(workspace=workspace).order_by("idx").values_list("idx", flat=True)
    )
    head = audit_head(workspace=workspace)
    contiguous = idxs == list(range(len(idxs))) and head is not None and head.size == len(idxs)
    return Verification(
        logs=1,
        entries=len(idxs),
        contiguous=contiguous,
        breaks=len(audit_chain_breaks(workspace=workspace)),
    )


def verify_all() -> tuple[int, float, int]:
    """Walk every workspace's chain: (entries, seconds, breaks)."""
    workspaces = list(Workspace.objects.order_by("pk"))
    entries = AuditEntry.objects.count()
    started = time.perf_counter()
    breaks = sum(len(audit_chain_breaks(workspace=workspace)) for workspace in workspaces)
    return entries, time.perf_counter() - started, breaks


BATCH_SIZE = 100


def run_batched(
    workspace: Workspace, batch: int = BATCH_SIZE
) -> tuple[int, float, list[float], str]:
    """One writer appending ``batch`` entries per transaction with ``audit_record_many``
    for RUN_SECONDS; returns (entries, seconds, per-batch latencies, check)."""
    events = [AuditEvent("bench.batched", "bench_writer", "0", {"n": n}) for n in range(batch)]
    latencies: list[float] = []
    start = time.perf_counter()
    while time.perf_counter() - start < RUN_SECONDS:
        began = time.perf_counter()
        with transaction.atomic():
            audit_record_many(workspace=workspace, actor=ACTOR, events=events)
        latencies.append(time.perf_counter() - began)
    seconds = time.perf_counter() - start
    return len(latencies) * batch, seconds, latencies, verify(workspace).summary()
