"""Runs every benchmark and prints the table (imported once Django is set up)."""

import os
import platform
import sys

import django
from django.db import connection

from tests.bench import api_keys, audit_appends, audit_scale, ingestion
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
INGESTION_DESCRIPTIONS = [
    "10 bare Django (issue 17's reference: no middleware, one view that reads the same POST body",
    "   and answers a constant, gunicorn with 4 sync workers), in the same run, half before and",
    "   half after 11-12; latencies are wrk's, per request.",
    "   CPU/request: user+system CPU of the gunicorn workers and of the bench database's",
    "   PostgreSQL backends (/proc) over the run, per answer: steadier than req/s when shared",
    "11 POST /v1/events, one ~630-byte track event per request (hashed e-mail and phone, a new",
    "   visitor each event, a TC string, Consent Mode), unique messageIds; group commit on",
    "12 POST /v1/batch, 100 such events per request; latency per request",
    "13 PostgreSQL COPY … FROM STDIN of the same documents into a minimal table (the document",
    "   as jsonb, (workspace, messageId) unique; one connection, one commit): issue 17's",
    "   reference for 12 (target: ≥ 25,000 events/s and ≥ 10 % of 13)",
    '14 events the server acknowledged ("accepted" in its answers, warm-up included) against',
    "   rows in destinations_event after the server stopped; stored > acknowledged only by answers",
    "   wrk stopped waiting for at the end of a run; any acknowledged event missing fails the run",
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


def _ingestion_rows() -> tuple[list[Row], ingestion.Figures]:
    _progress(f"ingestion over HTTP: gunicorn ({ingestion.CHOSEN}) and wrk")
    figures = ingestion.run()
    ceiling, single, batch, copy = figures.ceiling, figures.single, figures.batch, figures.copy

    def target(met: bool) -> str:
        return "target met" if met else "TARGET MISSED"

    single_met = (
        figures.single_share >= ingestion.SINGLE_TARGET
        and single.p99_us <= ingestion.SINGLE_P99_TARGET_US
    )
    batch_met = (
        copy is not None
        and figures.batch_share >= ingestion.BATCH_TARGET
        and batch.events_per_second >= ingestion.BATCH_EVENTS_TARGET
    )
    rows = [
        Row(
            "10 bare Django (reference)",
            _rate(ceiling.per_second, "req"),
            f"{ceiling.p50_us:,}",
            f"{ceiling.p99_us:,}",
            "; ".join(
                filter(
                    None,
                    [
                        ceiling.cpu_per("request"),
                        ceiling.problems(),
                        f"load average {figures.load_average:.1f} before the run",
                    ],
                )
            ),
        ),
        Row(
            f"11 single events, c={ingestion.CONNECTIONS}",
            _rate(single.per_second, "req"),
            f"{single.p50_us:,}",
            f"{single.p99_us:,}",
            f"{figures.single_share:.0%} of 10 ({target(single_met)}: ≥ "
            f"{ingestion.SINGLE_TARGET:.0%}, p99 ≤ {ingestion.SINGLE_P99_TARGET_US / 1000:g} ms)"
            f"; {single.cpu_per('request')}"
            + (f"; {single.problems()}" if single.problems() else ""),
        ),
        Row(
            f"12 batches of {ingestion.BATCH_SIZE}, c={ingestion.CONNECTIONS}",
            _rate(batch.events_per_second, "events"),
            f"{batch.p50_us:,}",
            f"{batch.p99_us:,}",
            (
                f"{figures.batch_share:.1%} of 13 ({target(batch_met)}: ≥ "
                f"{ingestion.BATCH_EVENTS_TARGET:,} events/s and ≥ {ingestion.BATCH_TARGET:.0%});"
                f" {batch.per_second:,.0f} req/s;"
                f" {batch.cpu_per('event')}"
                if copy
                else "no events accepted"
            )
            + (f"; {batch.problems()}" if batch.problems() else ""),
        ),
    ]
    if copy:
        rows.append(
            Row(
                "13 COPY baseline, 1 connection",
                _rate(copy.per_second, "rows"),
                check=f"{copy.rows:,} rows in {copy.seconds:.2f} s, one commit;"
                f" CPU/row: PostgreSQL {copy.db_cpu / copy.rows * 1e6:,.0f} µs",
            )
        )
    check = f"acknowledged {figures.acknowledged:,}, stored {figures.stored:,}"
    if figures.missing:
        check += f": {figures.missing:,} ACKNOWLEDGED EVENTS MISSING"
    elif figures.stored > figures.acknowledged:
        check += f" (+{figures.stored - figures.acknowledged:,} answered after wrk stopped)"
    rows.append(Row("14 acknowledged vs stored", f"{figures.missing:,} missing", check=check))
    return rows, figures


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


def _header(*, audit: bool = True, ingest: bool = False) -> str:
    pg = connection.pg_version
    settings = connection.settings_dict
    lines = [
        "TrackLayer benchmarks",
        f"machine: {os.cpu_count()} CPU cores, {platform.system()} {platform.machine()}",
        f"software: Python {platform.python_version()}, Django {django.get_version()},"
        f" PostgreSQL {pg // 10000}.{pg % 10000}"
        f" (fsync {_show('fsync')}, synchronous_commit {_show('synchronous_commit')})",
        f"databases: PostgreSQL {DATABASE_NAME} at {settings['HOST']}:{settings['PORT']},"
        f" Redis db {REDIS_DATABASE}",
    ]
    if audit:
        lines += [
            f"append runs last {audit_appends.RUN_SECONDS:g} s each;"
            f" latencies are per call (perf_counter), p50/p99 nearest-rank",
            f"audit log at scale (5-9): {audit_scale.entries_wanted():,} entries in one workspace"
            f" (BENCH_AUDIT_ENTRIES), {audit_scale.PROOFS} random proofs of each kind",
        ]
    if ingest:
        lines += [
            f"ingestion (10-14): gunicorn {ingestion.CHOSEN}, TRACKLAYER_ENV=production settings"
            " (DEBUG off, EVENTS_GROUP_COMMIT on), make serve's gunicorn config;",
            f"  wrk {ingestion.WRK_THREADS} threads × {ingestion.CONNECTIONS} connections on the"
            f" same cores, {ingestion.SECONDS:g} s per figure (BENCH_INGEST_SECONDS) after a"
            f" {ingestion.WARMUP_SECONDS:g} s warm-up",
        ]
    return "\n".join(lines)


def _privacy_rows() -> list[Row]:
    from tests.bench import privacy_pii, privacy_tcf

    _progress("privacy: identifiers normalised + hashed, TC strings decoded")
    rows = []
    for number, (label, result, check) in enumerate(
        [*privacy_pii.measure(), *privacy_tcf.measure()]
    ):
        rows.append(Row(f"{30 + number} {label}", result, check=check))
    return rows


PRIVACY_DESCRIPTIONS = [
    "30+ privacy.pii.hashed (and hashed_for_specs) over generated identifiers, one core, no",
    "   process cache (warm = visitors seen again); privacy.tcf.decode over strings from the",
    "   test encoder (tests/privacy/tcf_encoder.py); each row's check says what it covers",
]


def run(
    *,
    audit: bool = True,
    ingest: bool = True,
    privacy: bool = True,
    delivery: bool = True,
) -> None:
    rows, descriptions, figures = [], [], None
    if audit:
        rows += [*_append_rows(), _verification_row(), *_api_key_rows(), *_audit_scale_rows()]
        descriptions += DESCRIPTIONS
    if delivery:
        from tests.bench import delivery as delivery_bench

        rows += delivery_bench.rows()
        descriptions += delivery_bench.DESCRIPTIONS
    if privacy:
        rows += _privacy_rows()
        descriptions += PRIVACY_DESCRIPTIONS
    if ingest:
        ingestion_rows, figures = _ingestion_rows()
        rows += ingestion_rows
        descriptions += INGESTION_DESCRIPTIONS
    print()
    print(_header(audit=audit, ingest=ingest))
    print()
    print(table(rows))
    print()
    print("\n".join(descriptions), flush=True)
    if figures is not None and ("Traceback" in figures.server_log or "ERROR" in figures.server_log):
        print(f"\nthe bench server logged errors; its log ends:\n{figures.server_log}", flush=True)
    if figures is not None and figures.missing:
        raise SystemExit(
            f"{figures.missing:,} acknowledged events are not in the database\n"
            f"server log:\n{figures.server_log}"
        )
