"""Ingestion throughput over HTTP, each figure beside its reference measured in the same run.

gunicorn serves the product (``tests/bench/ingest_server.py``, ``make serve``'s configuration)
and wrk loads it from the same machine (``tests/bench/wrk/events.lua``): single events at 32
connections beside bare Django (issue 17: no middleware, one view that reads the body and
answers a constant, gunicorn with 4 sync workers; ``tests/bench/bare_django.py``) and beside
bare Django served the same way as the product (``served_the_same_way``: its server
configuration), each measured half before and half after the product's runs, with every
server up throughout; batches of
100 beside PostgreSQL COPY of the same documents into a minimal table with one unique key, on
one connection (``copy_baseline``; ``batch_run`` measures only these two). A constant DRF
view behind the dashboard's whole middleware stack, in the product's own server (the ceiling
of earlier runs), shows what that stack costs. Afterwards every acknowledged event must be in the
database.

Two regions (issue 13): the same server also takes the same single events and batches for a
workspace in the EU (its own database), and for both at once (half the connections with a US
key, half with an EU key), so the figures show whether a second region's data plane changes
them; ``region_rows`` are those figures beside the US workspace's, with the ratio. The
workloads take turns (``ROUNDS`` runs each: US, EU, both, then both, EU, US), each run after
the server has worked off the previous one's backlog, so that neither the order nor a machine
shared with other work favours one of them; each round's figure is shown, and their spread is
the noise the ratios are to be read against.
"""

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from destinations.models import Event, IngestionSettings
from tests.bench import environment
from tests.bench.ingest_server import (
    AB,
    CHOSEN,
    GRANIAN_REFERENCE,
    REFERENCE,
    Server,
    ServerConfig,
    process_cpu_seconds,
)
from tests.bench.report import Row, table
from workspaces.actors import SystemActor
from workspaces.models import ApiKeyEnvironment
from workspaces.services import api_key_create, workspace_create

ACTOR = SystemActor("bench")
WRK_SCRIPT = Path(__file__).resolve().parent / "wrk" / "events.lua"
CONNECTIONS = 32
WRK_THREADS = 2
BATCH_SIZE = 100
SECONDS = float(os.environ.get("BENCH_INGEST_SECONDS", "10"))
ROUNDS = 2  # per figure of the two-region runs: SECONDS in ROUNDS turns
WARMUP_SECONDS = 3.0
# A workspace's default rate limit (1,000 events/s per key) would throttle the bench.
UNTHROTTLED = 10_000_000
# The targets (issue 17): single events at half of bare Django's req/s; batches of 100 at
# 25,000 events/s, about 10 % of PostgreSQL COPY of the same documents into a minimal table
# with one unique key (``copy_baseline``).
SINGLE_TARGET = 0.50
SINGLE_P99_TARGET_US = 25_000
BATCH_TARGET = 0.10
BATCH_EVENTS_TARGET = 25_000


@dataclass(frozen=True)
class Target:
    workspace_id: int
    token: str
    region: str = "us"

    def stored(self) -> int:
        """Events of the workspace in its region's database."""
        return Event.objects.in_region(self.region).filter(workspace_id=self.workspace_id).count()


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
class RegionLoads:
    """The single and batch figures of one workload (a US or an EU workspace, or both at
    once), with each round's rate (req/s for single events, events/s for batches)."""

    label: str
    single: Load
    batch: Load
    single_rounds: tuple[float, ...] = ()
    batch_rounds: tuple[float, ...] = ()


@dataclass(frozen=True)
class Measured:
    """What ``measure`` took: the reference, the product's loads, what was acknowledged."""

    reference: Load  # bare Django (REFERENCE), the two halves as one
    stack_constant: Load  # the constant view behind the dashboard's middleware
    single: Load
    batch: Load
    acknowledged: int
    server_log: str
    regions: tuple[RegionLoads, ...] = ()
    reference_rounds: tuple[float, ...] = ()
    same_server: Load | None = None  # bare Django under the product's server configuration


@dataclass(frozen=True)
class Figures:
    config: ServerConfig
    ceiling: Load  # the reference: bare Django (figure 10)
    single: Load
    batch: Load
    copy: CopyRun | None
    acknowledged: int
    stored: int
    server_log: str
    load_average: float  # the machine's, over the minute before the run (it is shared)
    regions: tuple[RegionLoads, ...] = ()  # US (= single, batch), EU, US + EU
    stack_constant: Load | None = None
    reference_rounds: tuple[float, ...] = ()
    same_server: Load | None = None  # bare Django under the product's server configuration

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


def prepare(region: str = "us") -> Target:
    """A workspace of ``region`` that will not throttle, and a test write key for it."""
    workspace = workspace_create(
        actor=ACTOR, name=f"bench ingestion {uuid.uuid4().hex[:6]}", owner=None, region=region
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
    return Target(workspace.pk, token, region)


def wrk(url: str, mode: str, token: str, seconds: float, connections: int = CONNECTIONS) -> Load:
    """``seconds`` of load on ``url``; messageIds are unique to this run (a fresh tag)."""
    command = [
        "wrk",
        "--threads",
        str(WRK_THREADS),
        "--connections",
        str(connections),
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
    """The PostgreSQL processes serving the bench databases (the server's connections to the
    control plane and to each region's data plane)."""
    names = [environment.DATABASE_NAME, *environment.REGION_DATABASE_NAMES.values()]
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as connection:
        rows = connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = ANY(%s) AND pid <> pg_backend_pid()",
            [names],
        ).fetchall()
    return [pid for (pid,) in rows]


def _together(loads: list[Load]) -> Load:
    """Loads run at the same time, as one: counts added up over the longest run; p50 and p99
    the slower run's (percentiles of two runs do not add up)."""
    return Load(
        requests=sum(load.requests for load in loads),
        seconds=max(load.seconds for load in loads),
        p50_us=max(load.p50_us for load in loads),
        p99_us=max(load.p99_us for load in loads),
        errors={
            kind: sum(load.errors.get(kind, 0) for load in loads)
            for kind in {kind for load in loads for kind in load.errors}
        },
        status_2xx=sum(load.status_2xx for load in loads),
        status_other=sum(load.status_other for load in loads),
        accepted=sum(load.accepted for load in loads),
        duplicates=sum(load.duplicates for load in loads),
        rejecting=sum(load.rejecting for load in loads),
    )


def _measured(
    server: Server, path: str, mode: str, tokens: str | list[str], seconds: float
) -> Load:
    """``wrk`` against the server, with the CPU time it cost the server and the database.
    Several tokens: one wrk per token at once, the connections shared out between them."""
    tokens = [tokens] if isinstance(tokens, str) else tokens
    # Per backend: the server's connections are recycled (CONN_MAX_AGE), so one may end or
    # begin during the run; one that ended is left out (its last CPU time cannot be read).
    db = {pid: process_cpu_seconds(pid) for pid in _postgres_backends()}
    app = server.cpu_seconds()
    with ThreadPoolExecutor(len(tokens)) as pool:
        runs = [
            pool.submit(
                wrk, f"{server.url}{path}", mode, token, seconds, CONNECTIONS // len(tokens)
            )
            for token in tokens
        ]
        load = _together([run.result() for run in runs])
    return dataclasses.replace(
        load,
        app_cpu=server.cpu_seconds() - app,
        db_cpu=sum(process_cpu_seconds(pid) - db.get(pid, 0.0) for pid in _postgres_backends()),
    )


def _settle(server: Server, *, quiet: float = 0.05, longest: float = 5.0) -> None:
    """Wait until the server's workers are idle (under ``quiet`` of a core over 0.25 s): the
    requests wrk left in flight are answered before the next run starts."""
    deadline = time.monotonic() + longest
    before = server.cpu_seconds()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = server.cpu_seconds()
        if now - before < quiet * 0.25:
            return
        before = now


def _in_turn(runs: list[Load]) -> Load:
    """Runs of one workload, taken in turns, as one: counts, time and CPU added up; p50 the
    runs' p50 weighted by their requests, p99 the highest run's."""
    total = _together(runs)
    return dataclasses.replace(
        total,
        seconds=sum(run.seconds for run in runs),
        p50_us=round(sum(run.p50_us * run.requests for run in runs) / max(1, total.requests)),
        app_cpu=sum(run.app_cpu for run in runs),
        db_cpu=sum(run.db_cpu for run in runs),
    )


def _rate(mode: str, load: Load) -> float:
    return load.per_second if mode == "single" else load.events_per_second


def _progress(message: str) -> None:
    print(f"... {message}", file=sys.stderr, flush=True)


def measure(
    target: Target, config: ServerConfig, *, seconds: float = SECONDS, eu: Target | None = None
) -> Measured:
    """The reference, the constant behind the dashboard's middleware, single events and
    batches; with ``eu`` (an EU workspace) the figures of each workload: US, EU, and both.

    With ``eu`` the workloads take turns, ``ROUNDS`` runs of ``seconds / ROUNDS`` each (US,
    EU, both, US, …), so that the figures of a kind see the machine in the same states. The
    reference runs half before the product's runs and half after them, for the same reason."""
    database_url = os.environ["DATABASE_URL"]
    redis_url = os.environ["TEST_REDIS_URL"]  # Redis db 13 (tests/bench/environment.py)
    workloads = [("US", target.token)]
    if eu is not None:
        workloads += [("EU", eu.token), ("US + EU", [target.token, eu.token])]
    rounds = ROUNDS if eu is not None else 1
    runs: dict[tuple[str, str], list[Load]] = {}
    reference_runs, same_runs = [], []
    same = served_the_same_way(config)
    with (
        Server(REFERENCE, database_url=database_url, redis_url=redis_url) as bare,
        Server(same, database_url=database_url, redis_url=redis_url) as bare_same,
        Server(config, database_url=database_url, redis_url=redis_url) as server,
    ):
        warmups = []
        _progress(f"ingestion [{REFERENCE}]: bare Django, warm-up {WARMUP_SECONDS:g} s")
        wrk(f"{bare.url}/v1/events", "single", target.token, WARMUP_SECONDS)
        _progress(f"ingestion [{same}]: bare Django, warm-up {WARMUP_SECONDS:g} s")
        wrk(f"{bare_same.url}/v1/events", "single", target.token, WARMUP_SECONDS)
        for label, token in workloads[:2]:
            _progress(
                f"ingestion [{config}]: warm-up {label}, {WARMUP_SECONDS:g} s of single events"
            )
            warmups.append(wrk(f"{server.url}/v1/events", "single", token, WARMUP_SECONDS))
        _settle(server)
        _progress(f"ingestion [{REFERENCE}]: bare Django reference, {seconds / 2:g} s (1 of 2)")
        reference_runs.append(_measured(bare, "/v1/events", "single", target.token, seconds / 2))
        _progress(f"ingestion [{same}]: bare Django, {seconds / 2:g} s (1 of 2)")
        same_runs.append(_measured(bare_same, "/v1/events", "single", target.token, seconds / 2))
        _progress(f"ingestion [{config}]: constant behind the dashboard's middleware, {seconds:g}s")
        stack_constant = _measured(server, "/v1/bench/constant", "single", target.token, seconds)
        for mode, path, what in (
            ("single", "/v1/events", "single events"),
            ("batch", "/v1/batch", f"batches of {BATCH_SIZE}"),
        ):
            for turn in range(rounds):
                for label, token in workloads[:: -1 if turn % 2 else 1]:
                    _settle(server)
                    _progress(
                        f"ingestion [{config}]: {what}, {label} workspace, "
                        f"{seconds / rounds:g} s (round {turn + 1} of {rounds})"
                    )
                    load = _measured(server, path, mode, token, seconds / rounds)
                    runs.setdefault((mode, label), []).append(load)
        _settle(server)
        _progress(f"ingestion [{same}]: bare Django, {seconds / 2:g} s (2 of 2)")
        same_runs.append(_measured(bare_same, "/v1/events", "single", target.token, seconds / 2))
        _progress(f"ingestion [{REFERENCE}]: bare Django reference, {seconds / 2:g} s (2 of 2)")
        reference_runs.append(_measured(bare, "/v1/events", "single", target.token, seconds / 2))
    acknowledged = sum(load.accepted for load in warmups)
    acknowledged += sum(load.accepted for loads in runs.values() for load in loads)
    loads = {key: _in_turn(value) for key, value in runs.items()}
    regions = tuple(
        RegionLoads(
            label,
            loads["single", label],
            loads["batch", label],
            tuple(_rate("single", load) for load in runs["single", label]),
            tuple(_rate("batch", load) for load in runs["batch", label]),
        )
        for label, _ in workloads
    )
    return Measured(
        reference=_in_turn(reference_runs),
        stack_constant=stack_constant,
        single=loads["single", "US"],
        batch=loads["batch", "US"],
        acknowledged=acknowledged,
        server_log=server.final_log,
        regions=regions if eu is not None else (),
        reference_rounds=tuple(run.per_second for run in reference_runs),
        same_server=_in_turn(same_runs),
    )


def served_the_same_way(config: ServerConfig) -> ServerConfig:
    """Bare Django (the reference's application) under the server configuration of the
    product: what that server and Django's handler cost, beside issue 17's gunicorn-sync
    reference — the product's share of it is the one no choice of server can flatter."""
    return dataclasses.replace(config, wsgi=REFERENCE.wsgi, label="")


# The documents of COPY's reference: the events events.lua sends in the batches, the same
# template with the same kind of unique values (tests/bench/wrk/events.lua).
_DOCUMENT = (
    '{{"type":"track","event":"Order Completed","userId":"user-1-{n}",'
    '"anonymousId":"anon-1-{n}","messageId":"{tag}-1-{n}",'
    '"timestamp":"2026-11-23T10:15:30.120Z","sentAt":"2026-11-23T10:15:31.000Z",'
    '"properties":{{"order_id":"A-{n}","value":59.9,"currency":"EUR"}},'
    '"context":{{"traits":{{"email":"visitor.1.{n}@example.com","phone":"+49 30 3{m:06d}"}},'
    '"ip":"203.0.113.7","userAgent":"Mozilla/5.0 (Linux; Android 14) Chrome/124.0 Mobile",'
    '"location":{{"country":"DE"}},'
    '"consent":{{"tcString":"CQSbk4AQSbk4ANwAAAENAwCgAAAAAAAAAAYgACPAAAAA.IDKQA4AAgAKAGQAygAAA",'
    '"consentMode":{{"ad_user_data":"granted","ad_personalization":"denied"}}}}}}}}'
)
COPY_MIN_ROWS = 50_000  # fewer rows than this would time little more than the commit


def copy_documents(rows: int, tag: str) -> bytes:
    """``rows`` lines of COPY's text format: workspace, messageId, the event as sent."""
    lines = []
    for n in range(1, rows + 1):
        document = _DOCUMENT.format(n=n, m=n % 1_000_000, tag=tag)
        message_id = f"{tag}-1-{n}"
        # COPY's text format escapes the backslash (the documents hold none; kept correct).
        escaped = document.replace("\\", "\\\\")
        lines.append(f"1\t{message_id}\t{escaped}\n")
    return "".join(lines).encode()


def copy_baseline(target: Target, rows: int) -> CopyRun:
    """Issue 17's reference for batches: PostgreSQL's own ``COPY … FROM STDIN`` (psycopg 3's
    ``cursor.copy``, text format) of ``rows`` documents like the batches' (at least
    ``COPY_MIN_ROWS``) into a minimal table — the document as jsonb and one unique key,
    (workspace, messageId) — in the workspace's region's database, on one connection, in one
    transaction (its commit included)."""
    rows = max(rows, COPY_MIN_ROWS)
    data = copy_documents(rows, uuid.uuid4().hex[:12])
    scratch = sql.Identifier("bench_copy_documents")
    region_url = environment.region_database_url(os.environ["DATABASE_URL"], target.region)
    with psycopg.connect(region_url) as connection:
        connection.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(scratch))
        connection.execute(
            sql.SQL(
                "CREATE TABLE {} (workspace_id bigint NOT NULL, message_id text NOT NULL,"
                " document jsonb NOT NULL, UNIQUE (workspace_id, message_id))"
            ).format(scratch)
        )
        connection.commit()

        backend = connection.info.backend_pid
        cpu = process_cpu_seconds(backend)
        started = time.perf_counter()
        with connection.cursor() as cursor:
            with cursor.copy(
                sql.SQL("COPY {} (workspace_id, message_id, document) FROM STDIN").format(scratch)
            ) as copy:
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


def batch_rows(batch: Load, copy: CopyRun | None) -> list[Row]:
    """Batches of ``BATCH_SIZE`` beside COPY's reference, with both targets (issue 17)."""
    rate = batch.events_per_second
    check = f"{batch.per_second:,.0f} req/s; {batch.cpu_per('event')}"
    if batch.accepted:
        # What the CPU it took allows on this machine's cores, however busy it was.
        per_event = (batch.app_cpu + batch.db_cpu) / batch.accepted
        check += f" (CPU-bound: {(os.cpu_count() or 1) / per_event:,.0f} events/s"
        if copy is not None and copy.db_cpu:
            check += f", {copy.db_cpu / copy.rows / per_event:.1%} of COPY's CPU per row"
        check += ")"
    if copy is not None:
        share = rate / copy.per_second
        met = share >= BATCH_TARGET and rate >= BATCH_EVENTS_TARGET
        check = (
            f"{share:.1%} of COPY ({'target met' if met else 'TARGET MISSED'}: ≥"
            f" {BATCH_EVENTS_TARGET:,} events/s and ≥ {BATCH_TARGET:.0%}); {check}"
        )
    if batch.problems():
        check += f"; {batch.problems()}"
    rows = [
        Row(
            f"batches of {BATCH_SIZE}, c={CONNECTIONS}",
            f"{rate:,.0f} events/s",
            f"{batch.p50_us:,}",
            f"{batch.p99_us:,}",
            check,
        )
    ]
    if copy is not None:
        rows.append(
            Row(
                "COPY of the same documents, 1 connection",
                f"{copy.per_second:,.0f} rows/s",
                check=f"{copy.rows:,} rows in {copy.seconds:.2f} s, one commit, a table of"
                f" (workspace, messageId) unique and the document as jsonb; CPU/row:"
                f" PostgreSQL {copy.db_cpu / copy.rows * 1e6:,.1f} µs"
                + (f" (CPU-bound: {copy.rows / copy.db_cpu:,.0f} rows/s)" if copy.db_cpu else ""),
            )
        )
    return rows


def batch_run(
    config: ServerConfig = CHOSEN, *, seconds: float = SECONDS, rounds: int = ROUNDS
) -> tuple[Load, CopyRun | None]:
    """Only the batch figures: ``rounds`` runs of batches against a US workspace, then COPY's
    reference, printed with the ratio; every acknowledged event must be stored. The quick
    loop for work on the batch path (the full run measures much more)."""
    ensure_wrk()
    target = prepare("us")
    database_url = os.environ["DATABASE_URL"]
    redis_url = os.environ["TEST_REDIS_URL"]
    with Server(config, database_url=database_url, redis_url=redis_url) as server:
        _progress(f"ingestion [{config}]: warm-up, {WARMUP_SECONDS:g} s of batches")
        runs = [wrk(f"{server.url}/v1/batch", "batch", target.token, WARMUP_SECONDS)]
        for turn in range(rounds):
            _settle(server)
            _progress(f"ingestion [{config}]: batches, {seconds / rounds:g} s ({turn + 1})")
            runs.append(_measured(server, "/v1/batch", "batch", target.token, seconds / rounds))
        _settle(server)
    batch = _in_turn(runs[1:])
    acknowledged = sum(load.accepted for load in runs)
    stored = target.stored()
    _progress(f"COPY baseline: at least {batch.accepted:,} rows")
    copy = copy_baseline(target, batch.accepted)
    rows = batch_rows(batch, copy)
    rounds_text = ", ".join(f"{run.events_per_second:,.0f}" for run in runs[1:])
    rows.append(
        Row(
            "acknowledged vs stored",
            f"{max(0, acknowledged - stored):,} missing",
            check=f"acknowledged {acknowledged:,}, stored {stored:,}; rounds: {rounds_text}"
            f" events/s; load average {os.getloadavg()[0]:.1f}",
        )
    )
    print()
    print(f"batches of {BATCH_SIZE} beside PostgreSQL COPY of the same documents, under {config}")
    print(table(rows), flush=True)
    return batch, copy


def run(config: ServerConfig = CHOSEN) -> Figures:
    """The figures, with the two-region ones (``region_rows``) printed as a table of their own."""
    ensure_wrk()
    load_average = os.getloadavg()[0]
    target, eu = prepare("us"), prepare("eu")
    measured = measure(target, config, eu=eu)
    stored = target.stored() + eu.stored()
    batch = measured.batch
    _progress(f"COPY baseline: {batch.accepted:,} rows")
    copy = copy_baseline(target, batch.accepted) if batch.accepted else None
    figures = Figures(
        config,
        measured.reference,
        measured.single,
        batch,
        copy,
        measured.acknowledged,
        stored,
        measured.server_log,
        load_average,
        measured.regions,
        stack_constant=measured.stack_constant,
        reference_rounds=measured.reference_rounds,
        same_server=measured.same_server,
    )
    print()
    print(
        f"ingestion beside the bare Django reference ({REFERENCE}: no middleware, one view that"
        f" reads the body and answers a constant), the same run, c={CONNECTIONS}; the product"
        f" under {config}"
    )
    print(table(reference_rows(figures)), flush=True)
    print()
    print(
        "ingestion with two regions: the same loads for a US workspace, an EU one and both at"
        f" once, {ROUNDS} rounds each in turns (p50: the rounds' weighted; p99: the highest;"
        " both at once: the slower wrk's)"
    )
    print(table(region_rows(figures)), flush=True)
    return figures


def reference_rows(figures: Figures) -> list[Row]:
    """The reference, each single-event figure with its ratio to it, and the CPU per request."""
    reference = figures.ceiling
    rounds = ", ".join(f"{rate:,.0f}" for rate in figures.reference_rounds)
    rows = [
        Row(
            "bare Django (the reference)",
            f"{reference.per_second:,.0f} req/s",
            f"{reference.p50_us:,}",
            f"{reference.p99_us:,}",
            "; ".join(
                filter(
                    None,
                    [
                        f"before and after the rest: {rounds}" if rounds else "",
                        reference.cpu_per("request"),
                        reference.problems(),
                    ],
                )
            ),
        )
    ]
    same = figures.same_server
    if same is not None:
        share = same.per_second / reference.per_second if reference.per_second else 0.0
        rows.append(
            Row(
                f"bare Django served the same way ({served_the_same_way(figures.config)})",
                f"{same.per_second:,.0f} req/s",
                f"{same.p50_us:,}",
                f"{same.p99_us:,}",
                "; ".join(
                    filter(
                        None,
                        [f"{share:.0%} of the reference", same.cpu_per("request"), same.problems()],
                    )
                ),
            )
        )
    compared = [(f"single events, c={CONNECTIONS}", figures.single)]
    if figures.stack_constant is not None:
        compared.insert(0, ("constant behind the dashboard's middleware", figures.stack_constant))
    for label, load in compared:
        share = load.per_second / reference.per_second if reference.per_second else 0.0
        check = f"{share:.0%} of the reference"
        if load is figures.single:
            met = share >= SINGLE_TARGET and load.p99_us <= SINGLE_P99_TARGET_US
            check += (
                f" ({'target met' if met else 'TARGET MISSED'}: ≥ {SINGLE_TARGET:.0%},"
                f" p99 ≤ {SINGLE_P99_TARGET_US / 1000:g} ms)"
            )
            if same is not None and same.per_second:
                same_share = load.per_second / same.per_second
                check += f"; {same_share:.0%} of bare Django served the same way"
        check += f"; {load.cpu_per('request')}"
        if load.problems():
            check += f"; {load.problems()}"
        rows.append(
            Row(
                label,
                f"{load.per_second:,.0f} req/s",
                f"{load.p50_us:,}",
                f"{load.p99_us:,}",
                check,
            )
        )
    return rows


def region_rows(figures: Figures) -> list[Row]:
    """Each workload's single and batch figures (US, EU, both at once), with the ratio to the
    US workspace's and each round's rate."""
    rows = []
    for mode, unit in (("single", "req"), ("batch", "events")):
        base = _rate(mode, getattr(figures, mode))
        for region in figures.regions:
            load = getattr(region, mode)
            rate = _rate(mode, load)
            rounds = ", ".join(f"{value:,.0f}" for value in getattr(region, f"{mode}_rounds"))
            check = "reference" if region.label == "US" else f"{rate / base:.2f} × US"
            check += f"; rounds {rounds}"
            if region.label == "US + EU":
                check += f" ({CONNECTIONS // 2} connections each)"
            check += f"; {load.cpu_per('event' if mode == 'batch' else 'request')}"
            if load.problems():
                check += f"; {load.problems()}"
            what = "single events" if mode == "single" else f"batches of {BATCH_SIZE}"
            rows.append(
                Row(
                    f"{what}, {region.label} workspace",
                    f"{rate:,.0f} {unit}/s",
                    f"{load.p50_us:,}",
                    f"{load.p99_us:,}",
                    check,
                )
            )
    return rows


def sweep(
    configs=AB,
    references=(REFERENCE, GRANIAN_REFERENCE),
    *,
    rounds: int = int(os.environ.get("BENCH_SWEEP_ROUNDS", "4")),
    seconds: float = float(os.environ.get("BENCH_INGEST_SECONDS", "5")),
) -> list[Row]:
    """A/B of server configurations, taking turns in ``rounds`` rounds of ``seconds`` per
    figure, the order rotated each round, so that a machine shared with other work favours none
    of them. The bare Django references stay up throughout; each configuration is started for
    its turn (warmed up, then measured) and stopped after it (with every thread holding a
    database connection, the product's servers at once would take PostgreSQL's 100). Single
    events (req/s, p99, CPU per request of the server's processes and PostgreSQL's) and batches
    of 100 (events/s, CPU per event); each configuration its own workspace, every acknowledged
    event stored."""
    ensure_wrk()
    database_url = os.environ["DATABASE_URL"]
    redis_url = os.environ["TEST_REDIS_URL"]
    targets = {config: prepare() for config in configs}
    token = targets[configs[0]].token  # bare Django checks no key
    everyone = [*references, *configs]
    runs: dict[tuple[ServerConfig, str], list[Load]] = {}
    acknowledged = dict.fromkeys(configs, 0)
    with ExitStack() as stack:
        bare = {}
        for config in references:
            _progress(f"sweep: starting {config}")
            bare[config] = stack.enter_context(
                Server(config, database_url=database_url, redis_url=redis_url)
            )
            wrk(f"{bare[config].url}/v1/events", "single", token, WARMUP_SECONDS)
        for turn in range(rounds):
            shift = turn % len(everyone)
            for config in everyone[shift:] + everyone[:shift]:
                if config in bare:
                    _settle(bare[config])
                    _progress(f"sweep [{config}]: bare Django, {seconds:g} s (round {turn + 1})")
                    load = _measured(bare[config], "/v1/events", "single", token, seconds)
                    runs.setdefault((config, "single"), []).append(load)
                    continue
                key = targets[config].token
                with Server(config, database_url=database_url, redis_url=redis_url) as server:
                    _progress(f"sweep [{config}]: warm-up {WARMUP_SECONDS:g} s (round {turn + 1})")
                    acknowledged[config] += wrk(
                        f"{server.url}/v1/events", "single", key, WARMUP_SECONDS
                    ).accepted
                    for mode, path in (("single", "/v1/events"), ("batch", "/v1/batch")):
                        _settle(server)
                        _progress(f"sweep [{config}]: {mode}, {seconds:g} s (round {turn + 1})")
                        load = _measured(server, path, mode, key, seconds)
                        runs.setdefault((config, mode), []).append(load)
                        acknowledged[config] += load.accepted
    rows = []
    gunicorn_sync = _in_turn(runs[references[0], "single"]).per_second
    for config in everyone:
        for mode in ("single", "batch"):
            if (config, mode) not in runs:
                continue
            load = _in_turn(runs[config, mode])
            rate = _rate(mode, load)
            each = ", ".join(f"{_rate(mode, run):,.0f}" for run in runs[config, mode])
            p99s = ", ".join(f"{run.p99_us / 1000:,.0f}" for run in runs[config, mode])
            check = (
                f"rounds {each} (p99 ms {p99s});"
                f" {load.cpu_per('event' if mode == 'batch' else 'request')}"
            )
            if mode == "single" and config not in references:
                shares = [f"{load.per_second / gunicorn_sync:.0%} of {references[0]}"]
                shares += [
                    f"{load.per_second / _in_turn(runs[other, 'single']).per_second:.0%}"
                    f" of bare Django under {other}"
                    for other in references[1:]
                    if other.worker_class == config.worker_class
                ]
                check = f"{'; '.join(shares)}; {check}"
            if load.problems():
                check += f"; {load.problems()}"
            unit = "req/s" if mode == "single" else "events/s"
            what = "bare Django" if config in references else mode
            rows.append(
                Row(
                    f"{config}: {what}",
                    f"{rate:,.0f} {unit}",
                    f"{load.p50_us:,}",
                    f"{load.p99_us:,}",
                    check,
                )
            )
        if config in targets:
            stored = targets[config].stored()
            missing = max(0, acknowledged[config] - stored)
            rows.append(
                Row(
                    f"{config}: acknowledged vs stored",
                    f"{missing:,} missing",
                    check=f"acknowledged {acknowledged[config]:,}, stored {stored:,}",
                )
            )
    print()
    print(
        f"server A/B: {rounds} rounds of {seconds:g} s per figure, order rotated each round;"
        " the bare Django references up throughout, each configuration started for its turn;"
        f" c={CONNECTIONS} (p50: the rounds' weighted; p99: the highest round's);"
        f" load average at the end: {', '.join(f'{n:.1f}' for n in os.getloadavg())}"
    )
    print(table(rows), flush=True)
    return rows
