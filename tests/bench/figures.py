"""Runs every benchmark and prints the table (imported once Django is set up)."""

import os
import platform
import sys

import django
from django.db import connection

from tests.bench import api_keys, audit_appends, audit_scale
from tests.bench.environment import DATABASE_NAME, REDIS_DATABASE
from tests.bench.report import Row, table

SHARED_WRITERS = (1, 8, 32)
SEPARATE_WORKSPACES = 8

DESCRIPTIONS = [
    "1  appends to ONE workspace's log: N threads, own connection each, one atomic() per append",
    "   (they queue on the workspace's AuditLogHead row lock: one log's appends are serialised)",
    "2  8 threads, each appending to its OWN workspace's log: no shared lock to wait on",
    "3  audit_chain_breaks over all entries written above (stream rows, recompute SHA-256 chain)",
    "4  api_key_authenticate; warm: key cached in Redis (no DB, no bcrypt); cold: cache emptied",
    "   before each call, so every call reads the key row and runs bcrypt.checkpw",
    "5  the bench's bulk loader (tests/bench/audit_loader.py) grows one workspace's log: canonical",
    "   material, hash chain, tree nodes from frontier_append, all by COPY (setup, not a product",
    "   figure); signing a checkpoint at half and at the end checks a consistency proof over it",
    "6  audit_verify over that log, as the dashboard, API, CLI and periodic task run it: every",
    "   entry's hash and link, the Merkle root at each checkpoint, signatures, the head",
    "   (median of 3 runs; the check column lists each run)",
    "7  audit_inclusion_proof of a random entry in the full tree; each proof verified against",
    "   the signed checkpoint's root (200 proofs, latency per call)",
    "8  audit_consistency_proof from a random earlier size to the full tree, verified likewise",
    "9  audit_record_many: one writer, 100 entries per transaction (one lock, one bulk insert,"
    "\n   one head update); latency per batch",
]


def _progress(message: str) -> None:
    print(f"... {message}", file=sys.stderr, flush=True)


def _rate(value: float, unit: str) -> str:
    return f"{value:,.0f} {unit}/s"


def _append_rows() -> list[Row]:
    rows = []
    for writers in SHARED_WRITERS:
        _progress(f"audit appends: 1 workspace, {writers} writer(s)")
        workspace = audit_appends.new_workspace(f"bench shared {writers}")
        result = audit_appends.run_writers([workspace] * writers)
        rows.append(
            Row.with_latencies(
                f"1  1 workspace, {writers} writer{'s' if writers > 1 else ''}",
                _rate(result.per_second, "appends"),
                result.latencies,
                result.check(),
            )
        )

    _progress(f"audit appends: {SEPARATE_WORKSPACES} workspaces, one writer each")
    workspaces = [
        audit_appends.new_workspace(f"bench separate {n}") for n in range(SEPARATE_WORKSPACES)
    ]
    result = audit_appends.run_writers(workspaces)
    rows.append(
        Row.with_latencies(
            f"2  {SEPARATE_WORKSPACES} workspaces, 1 writer each",
            _rate(result.per_second, "appends"),
            result.latencies,
            result.check(),
        )
    )
    return rows


def _verification_row() -> Row:
    _progress("chain verification")
    entries, seconds, breaks = audit_appends.verify_all()
    return Row(
        "3  chain verification",
        _rate(entries / seconds, "entries"),
        check=f"{entries:,} entries in {seconds:.2f} s; breaks: {breaks}",
    )


def _api_key_rows() -> list[Row]:
    _progress(f"API key authentication (cold: {api_keys.COLD_CALLS} bcrypt checks)")
    warm, cold, cost = api_keys.run()
    return [
        Row.with_latencies(
            "4  API key auth, warm cache",
            _rate(warm.per_second, "calls"),
            warm.latencies,
            f"{len(warm.latencies):,} calls; bcrypt calls: {warm.bcrypt_calls}",
        ),
        Row.with_latencies(
            "4  API key auth, cold cache",
            _rate(cold.per_second, "calls"),
            cold.latencies,
            f"{len(cold.latencies)} calls; bcrypt calls: {cold.bcrypt_calls} (cost {cost})",
        ),
    ]


def _audit_scale_rows() -> list[Row]:
    entries = audit_scale.entries_wanted()
    _progress(f"audit log at scale: loading {entries:,} entries into one workspace")
    loaded = audit_scale.load(entries)
    rows = [
        Row(
            f"5  bulk load, {_count(entries)} entries",
            _rate(loaded.entries / loaded.seconds, "entries"),
            check=f"{loaded.entries:,} entries, {loaded.nodes:,} tree nodes in "
            f"{loaded.seconds:.1f} s; checkpoints signed at "
            + " and ".join(f"{size:,}" for size in loaded.checkpoints),
        )
    ]
    _progress(f"audit_verify over {loaded.entries:,} entries ({audit_scale.VERIFY_RUNS} runs)")
    runs = audit_scale.verify(loaded)
    rows.append(
        Row(
            f"6  audit_verify, {_count(loaded.entries)} entries",
            _rate(loaded.entries / runs.median, "entries"),
            check=runs.check(loaded),
        )
    )
    _progress(f"inclusion and consistency proofs at {loaded.entries:,} entries")
    for number, kind, proofs in (
        ("7", "inclusion", audit_scale.inclusion_proofs(loaded)),
        ("8", "consistency", audit_scale.consistency_proofs(loaded)),
    ):
        rows.append(
            Row.with_latencies(
                f"{number}  {kind} proof at {_count(loaded.entries)}",
                _rate(len(proofs.latencies) / sum(proofs.latencies), "proofs"),
                proofs.latencies,
                proofs.check(f"{kind} proofs"),
            )
        )
    _progress(f"batched append: {audit_appends.BATCH_SIZE} entries per transaction")
    workspace = audit_appends.new_workspace("bench batched")
    entries, seconds, latencies, check = audit_appends.run_batched(workspace)
    rows.append(
        Row.with_latencies(
            f"9  batched append ×{audit_appends.BATCH_SIZE}",
            _rate(entries / seconds, "entries"),
            latencies,
            f"per batch; {check}",
        )
    )
    return rows


def _count(n: int) -> str:
    """1M, 250k, 1,234: short enough for the figure column."""
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n % 1_000 == 0:
        return f"{n // 1_000}k"
    return f"{n:,}"


def _show(setting: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting(%s)", [setting])
        return cursor.fetchone()[0]


def _header() -> str:
    pg = connection.pg_version
    settings = connection.settings_dict
    return "\n".join(
        [
            "TrackLayer benchmarks",
            f"machine: {os.cpu_count()} CPU cores, {platform.system()} {platform.machine()}",
            f"software: Python {platform.python_version()}, Django {django.get_version()},"
            f" PostgreSQL {pg // 10000}.{pg % 10000}"
            f" (fsync {_show('fsync')}, synchronous_commit {_show('synchronous_commit')})",
            f"databases: PostgreSQL {DATABASE_NAME} at {settings['HOST']}:{settings['PORT']},"
            f" Redis db {REDIS_DATABASE}",
            f"append runs last {audit_appends.RUN_SECONDS:g} s each;"
            f" latencies are per call (perf_counter), p50/p99 nearest-rank",
            f"audit log at scale (5-9): {audit_scale.entries_wanted():,} entries in one workspace"
            f" (BENCH_AUDIT_ENTRIES), {audit_scale.PROOFS} random proofs of each kind",
        ]
    )


def run() -> None:
    rows = [*_append_rows(), _verification_row(), *_api_key_rows(), *_audit_scale_rows()]
    print()
    print(_header())
    print()
    print(table(rows))
    print()
    print("\n".join(DESCRIPTIONS), flush=True)
