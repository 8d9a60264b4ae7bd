"""Ingestion throughput over HTTP, each figure beside its ceiling measured in the same run.

gunicorn serves the product (``tests/bench/ingest_server.py``) and wrk loads it from the same
machine (``tests/bench/wrk/events.lua``): single events at 32 connections beside a bare endpoint
of the same server, batches of 100 beside PostgreSQL COPY of the same rows on one connection.
Afterwards every acknowledged event must be in the database.
"""

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from destinations.models import Event, IngestionSettings
from tests.bench.ingest_server import (
    CANDIDATES,
    CHOSEN,
    Server,
    ServerConfig,
    process_cpu_seconds,
)
from workspaces.actors import SystemActor
from workspaces.models import ApiKeyEnvironment
from workspaces.services import api_key_create, workspace_create

ACTOR = SystemActor("bench")
WRK_SCRIPT = Path(__file__).resolve().parent / "wrk" / "events.lua"
CONNECTIONS = 32
WRK_THREADS = 2
BATCH_SIZE = 100
SECONDS = float(os.environ.get("BENCH_INGEST_SECONDS", "10"))
WARMUP_SECONDS = 3.0
# A workspace's default rate limit (1,000 events/s per key) would throttle the bench.
UNTHROTTLED = 10_000_000
# The targets (issue 6).
SINGLE_TARGET = 0.65  # of the bare endpoint's req/s
SINGLE_P99_TARGET_US = 25_000
BATCH_TARGET = 0.60  # of COPY's rows/s


@dataclass(frozen=True)
class Target:
    workspace_id: int
    token: str


@dataclass(frozen=True)
class Load:
    """One wrk run, as events.lua's done() reports it."""

    requests: int
    seconds: float
    p50_us: int
    p99_us: int
    errors: dict[str, int]
    status_2xx: int
    status_other: int
    accepted: int
    duplicates: int
    rejecting: int
    # CPU time the run cost the server's workers and the bench database's PostgreSQL backends:
    # unlike throughput, hardly affected by what else runs on a shared machine.
    app_cpu: float = 0.0
    db_cpu: float = 0.0

    def cpu_per(self, unit: str = "request") -> str:
        """'app 1,234 + PostgreSQL 321 µs CPU per request' (or per event)."""
        count = self.status_2xx if unit == "request" else self.accepted
        if not count:
            return "no CPU figure"
        app, db = self.app_cpu / count * 1e6, self.db_cpu / count * 1e6
        return f"CPU/{unit}: app {app:,.0f} + PostgreSQL {db:,.0f} µs"

    @property
    def per_second(self) -> float:
        """Answered with a 2xx, per second (what an SDK would count as sent)."""
        return self.status_2xx / self.seconds

    @property
    def events_per_second(self) -> float:
        return self.accepted / self.seconds

    @property
    def socket_errors(self) -> int:
        return sum(n for kind, n in self.errors.items() if kind != "status")

    def problems(self) -> str:
        """Anything but clean 2xx answers, or '' (wrk counts non-2xx under errors.status)."""
        notes = []
        if self.status_other:
            notes.append(f"non-2xx {self.status_other:,}")
        if self.socket_errors:
            notes.append(f"socket errors {self.socket_errors:,} {self.errors}")
        if self.duplicates:
            notes.append(f"duplicates {self.duplicates:,}")
        if self.rejecting:
            notes.append(f"answers rejecting events {self.rejecting:,}")
        return ", ".join(notes)


@dataclass(frozen=True)
class CopyRun:
    rows: int
    seconds: float
    db_cpu: float  # of the PostgreSQL backend that ran the COPY

    @property
    def per_second(self) -> float:
        return self.rows / self.seconds


@dataclass(frozen=True)
class Figures:
    config: ServerConfig
    ceiling: Load
    single: Load
    batch: Load
    copy: CopyRun | None
    acknowledged: int
    stored: int
    server_log: str
    load_average: float  # the machine's, over the minute before the run (it is shared)

    @property
    def single_share(self) -> float:
        return self.single.per_second / self.ceiling.per_second

    @property
    def batch_share(self) -> float | None:
        return self.batch.events_per_second / self.copy.per_second if self.copy else None

    @property
    def missing(self) -> int:
        return max(0, self.acknowledged - self.stored)


def ensure_wrk() -> None:
    if shutil.which("wrk") is None:
        from tracklayer import devenv

        devenv.ensure_wrk()


def prepare() -> Target:
    """A workspace that will not throttle, and a test write key for it."""
    workspace = workspace_create(
        actor=ACTOR, name=f"bench ingestion {uuid.uuid4().hex[:6]}", owner=None
    )
    IngestionSettings.objects.update_or_create(
        workspace=workspace,
        defaults={"rate_per_second": UNTHROTTLED, "rate_burst": UNTHROTTLED},
    )
    _, token = api_key_create(
        workspace=workspace,
        actor=ACTOR,
        name="bench ingestion",
        environment=ApiKeyEnvironment.TEST,
        expires_at=None,
    )
    return Target(workspace.pk, token)


def wrk(url: str, mode: str, token: str, seconds: float) -> Load:
    """``seconds`` of load on ``url``; messageIds are unique to this run (a fresh tag)."""
    command = [
        "wrk",
        "--threads",
        str(WRK_THREADS),
        "--connections",
        str(CONNECTIONS),
        "--duration",
        f"{seconds:g}s",
        "--timeout",
        "10s",
        "--latency",
        "--script",
        str(WRK_SCRIPT),
        url,
        "--",
        mode,
        uuid.uuid4().hex[:12],
        token,
        str(BATCH_SIZE),
    ]
    answer = subprocess.run(command, capture_output=True, text=True, check=False)
    reports = [line for line in answer.stdout.splitlines() if line.startswith("BENCH_JSON ")]
    if answer.returncode != 0 or not reports:
        raise RuntimeError(f"wrk failed ({answer.returncode}):\n{answer.stdout}\n{answer.stderr}")
    report = json.loads(reports[-1].removeprefix("BENCH_JSON "))
    return Load(
        requests=report["requests"],
        seconds=report["duration_us"] / 1e6,
        p50_us=report["p50_us"],
        p99_us=report["p99_us"],
        errors=report["errors"],
        status_2xx=report["status_2xx"],
        status_other=report["status_other"],
        accepted=report["accepted"],
        duplicates=report["duplicates"],
        rejecting=report["rejecting"],
    )


def _postgres_backends() -> list[int]:
    """The PostgreSQL processes serving the bench database (the server's connections)."""
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as connection:
        rows = connection.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return [pid for (pid,) in rows]


def _measured(server: Server, path: str, mode: str, token: str, seconds: float) -> Load:
    """``wrk`` against the server, with the CPU time it cost the server and the database."""
    backends = _postgres_backends()
    app, db = server.cpu_seconds(), sum(map(process_cpu_seconds, backends))
    load = wrk(f"{server.url}{path}", mode, token, seconds)
    return dataclasses.replace(
        load,
        app_cpu=server.cpu_seconds() - app,
        db_cpu=sum(map(process_cpu_seconds, backends)) - db,
    )


def _progress(message: str) -> None:
    print(f"... {message}", file=sys.stderr, flush=True)


def measure(
    target: Target, config: ServerConfig, *, seconds: float = SECONDS
) -> tuple[Load, Load, Load, int, str]:
    """(ceiling, single, batch, events acknowledged in all runs, server log tail)."""
    database_url = os.environ["DATABASE_URL"]
    redis_url = os.environ["TEST_REDIS_URL"]  # Redis db 13 (tests/bench/environment.py)
    with Server(config, database_url=database_url, redis_url=redis_url) as server:
        _progress(f"ingestion [{config}]: warm-up, {WARMUP_SECONDS:g} s of single events")
        warmup = wrk(f"{server.url}/v1/events", "single", target.token, WARMUP_SECONDS)
        _progress(f"ingestion [{config}]: bare endpoint, {seconds:g} s")
        ceiling = _measured(server, "/v1/bench/constant", "single", target.token, seconds)
        _progress(f"ingestion [{config}]: single events, {seconds:g} s")
        single = _measured(server, "/v1/events", "single", target.token, seconds)
        _progress(f"ingestion [{config}]: batches of {BATCH_SIZE}, {seconds:g} s")
        batched = _measured(server, "/v1/batch", "batch", target.token, seconds)
    acknowledged = warmup.accepted + single.accepted + batched.accepted
    return ceiling, single, batched, acknowledged, server.final_log


def copy_baseline(workspace_id: int, rows: int) -> CopyRun:
    """COPY ``rows`` of the stored events (the batch run's) into a fresh table like the events
    table (its indexes and defaults too), on one connection, in one transaction."""
    columns = [field.column for field in Event._meta.concrete_fields if not field.primary_key]
    listed = sql.SQL(", ").join(map(sql.Identifier, columns))
    scratch = sql.Identifier("bench_copy_event")
    with psycopg.connect(os.environ["DATABASE_URL"]) as connection:
        connection.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(scratch))
        connection.execute(
            sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(
                scratch, sql.Identifier(Event._meta.db_table)
            )
        )
        data = bytearray()
        with connection.cursor().copy(
            sql.SQL(
                "COPY (SELECT {} FROM {} WHERE workspace_id = {} ORDER BY id DESC LIMIT {})"
                " TO STDOUT"
            ).format(listed, sql.Identifier(Event._meta.db_table), sql.Literal(workspace_id), rows)
        ) as source:
            for chunk in source:
                data += chunk
        connection.commit()

        backend = connection.info.backend_pid
        cpu = process_cpu_seconds(backend)
        started = time.perf_counter()
        with connection.cursor() as cursor:
            with cursor.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(scratch, listed)) as copy:
                view = memoryview(data)
                for offset in range(0, len(view), 1 << 20):
                    copy.write(view[offset : offset + (1 << 20)])
            copied = cursor.rowcount
        connection.commit()
        seconds = time.perf_counter() - started
        cpu = process_cpu_seconds(backend) - cpu
        connection.execute(sql.SQL("DROP TABLE {}").format(scratch))
        connection.commit()
    return CopyRun(copied, seconds, cpu)


def run(config: ServerConfig = CHOSEN) -> Figures:
    ensure_wrk()
    load_average = os.getloadavg()[0]
    target = prepare()
    ceiling, single, batch, acknowledged, log = measure(target, config)
    stored = Event.objects.filter(workspace_id=target.workspace_id).count()
    _progress(f"COPY baseline: {batch.accepted:,} rows")
    copy = copy_baseline(target.workspace_id, batch.accepted) if batch.accepted else None
    return Figures(config, ceiling, single, batch, copy, acknowledged, stored, log, load_average)


def sweep(configs=CANDIDATES, seconds: float = float(os.environ.get("BENCH_INGEST_SECONDS", "8"))):
    """Each server configuration in turn (no COPY baseline: it does not depend on the server)."""
    from tests.bench.report import Row, table

    ensure_wrk()
    rows = []
    for config in configs:
        target = prepare()
        try:
            ceiling, single, batch, acknowledged, _ = measure(target, config, seconds=seconds)
        except RuntimeError as error:
            _progress(f"{config}: failed: {str(error)[-2000:]}")
            rows.append(Row(f"{config}", "failed"))
            continue
        stored = Event.objects.filter(workspace_id=target.workspace_id).count()
        figures = Figures(config, ceiling, single, batch, None, acknowledged, stored, "", 0.0)
        for name, load, result in (
            ("bare", ceiling, f"{ceiling.per_second:,.0f} req/s"),
            ("single", single, f"{single.per_second:,.0f} req/s"),
            ("batch", batch, f"{batch.events_per_second:,.0f} events/s"),
        ):
            share = f"{figures.single_share:.0%} of bare; " if name == "single" else ""
            check = share + load.cpu_per("event" if name == "batch" else "request")
            if load.problems():
                check = "; ".join(filter(None, [check, load.problems()]))
            row = Row(f"{config}: {name}", result, f"{load.p50_us:,}", f"{load.p99_us:,}", check)
            _progress(" | ".join(row.__dict__.values()))
            rows.append(row)
        if figures.missing:
            rows.append(Row(f"{config}: MISSING", f"{figures.missing:,} events"))
    print()
    print(f"load average at the end: {', '.join(f'{n:.1f}' for n in os.getloadavg())}")
    print(table(rows), flush=True)
