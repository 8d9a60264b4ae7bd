"""Where a single-event request's time goes: py-spy on the gunicorn workers under wrk's load.

``python -m tests.bench ingestion --profile [single|batch|bare]`` ("bare": the constant view
behind the dashboard's middleware, in the product's server) starts the same server and load as
the figures, samples every worker with ``py-spy record --gil`` (only the thread holding
the GIL is sampled, so a sample is Python CPU time of that process) and prints the samples per
request by stage: the innermost stage named on each sampled stack gets the sample. py-spy is
not a dependency: ``.venv/bin/pip install py-spy``.
"""

import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.bench import ingestion
from tests.bench.ingest_server import CHOSEN, Server, ServerConfig

RATE = 200  # samples per second and process
SECONDS = 12
PATHS = {"single": "/v1/events", "batch": "/v1/batch", "bare": "/v1/bench/constant"}

# (function name prefix, stage), innermost first where stages nest.
STAGES = [
    ("ListDumper", "writer thread: psycopg dumping the insert's parameters"),
    ("PostgresClientQuery.dump", "writer thread: psycopg dumping the insert's parameters"),
    ("GroupCommitWriter._run", "writer thread: rest (round trips, columns, results)"),
    ("delivery_kick", "delivery_kick (Redis SET NX, Celery publish)"),
    ("rate_limit_take", "rate_limit_take (Redis EVALSHA once a block of tokens)"),
    ("api_key_authenticate", "api_key_authenticate (LRU in process, Redis GET on a miss)"),
    ("ForwardManyToOneDescriptor.__get__", "key.workspace (a SELECT per request)"),
    ("workspace_runtime", "workspace_runtime"),
    ("prepare_event", "prepare_event (validate, hash PII, consent)"),
    ("GroupCommitWriter.write", "hand-off to the writer and wait (request thread)"),
    ("Atomic.__enter__", "ATOMIC_REQUESTS (atomic() around the view)"),
    ("Atomic.__exit__", "ATOMIC_REQUESTS (atomic() around the view)"),
    ("close_old_connections", "close_old_connections (connection checks)"),
    ("event_ingest", "event_ingest: rest"),
    ("IngestApi.post", "ingestion view: body, JSON, answer"),
    ("ConstantApi.post", "constant view"),
    ("APIView.dispatch", "DRF dispatch (request, negotiation, response)"),
    ("CSPMiddleware", "middleware: CSP"),
    ("WSGIHandler.__call__", "Django: handler, URL resolving, other middleware"),
    ("ThreadWorker.handle", "gunicorn worker thread: HTTP parsing and writing"),
    ("_WorkItem.run", "gunicorn worker thread: HTTP parsing and writing"),
    ("ThreadWorker.run", "gunicorn main loop: poll, accept, keep-alive"),
    ("SyncWorker", "gunicorn sync worker: accept, HTTP parsing and writing"),
]
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>.*?):\d+\)$")


def _stage(stack: str) -> str:
    for frame in reversed(stack.split(";")):
        match = _FRAME.match(frame)
        function = match["function"] if match else frame
        for prefix, stage in STAGES:
            if function.startswith(prefix):
                return stage
    return "other"


def stages(raw_files: list[Path]) -> collections.Counter:
    """Samples per stage, from py-spy's raw (collapsed stack) output."""
    counts: collections.Counter = collections.Counter()
    for path in raw_files:
        for line in path.read_text().splitlines():
            stack, _, samples = line.rpartition(" ")
            if stack:
                counts[_stage(stack)] += int(samples)
    return counts


def _py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not os.access(found, os.X_OK):
        raise SystemExit("py-spy is needed for --profile: .venv/bin/pip install py-spy")
    return found


def profile(mode: str = "single", config: ServerConfig = CHOSEN) -> None:
    py_spy = _py_spy()
    ingestion.ensure_wrk()
    target = ingestion.prepare()
    database_url = os.environ["DATABASE_URL"]
    redis_url = os.environ["TEST_REDIS_URL"]
    wrk_mode = "batch" if mode == "batch" else "single"
    with (
        tempfile.TemporaryDirectory(prefix="tracklayer-profile-") as directory,
        Server(config, database_url=database_url, redis_url=redis_url) as server,
    ):
        url = f"{server.url}{PATHS[mode]}"
        ingestion.wrk(url, wrk_mode, target.token, ingestion.WARMUP_SECONDS)
        outputs = []
        spies = []
        for pid in server.worker_pids():
            outputs.append(Path(directory) / f"{pid}.txt")
            command = [py_spy, "record", "--pid", str(pid), "--gil", "--rate", str(RATE)]
            command += ["--duration", str(SECONDS), "--format", "raw", "-o", str(outputs[-1])]
            spies.append(
                subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
        load = ingestion.wrk(url, wrk_mode, target.token, SECONDS)
        for spy in spies:
            spy.wait()
        counts = stages([path for path in outputs if path.exists()])

    unit = "event" if mode == "batch" else "request"
    served = load.accepted if mode == "batch" else load.status_2xx
    total = sum(counts.values())
    if not total or not served:
        raise SystemExit("py-spy recorded nothing (is ptrace allowed here?)")
    width = max(len(stage) for stage in counts)
    lines = [f"{'stage':<{width}}  {f'µs/{unit}':>10}  {'share':>6}"]
    lines += [
        f"{stage:<{width}}  {samples / RATE / served * 1e6:>10,.0f}  {samples / total:>6.1%}"
        for stage, samples in counts.most_common()
    ]
    print()
    print(
        f"py-spy --gil on {len(outputs)} workers ({config}), {SECONDS} s of {mode} load at"
        f" c={ingestion.CONNECTIONS}: {served:,} {unit}s, {load.per_second:,.0f} req/s"
        " (py-spy slows the workers)"
    )
    print(f"Python time holding the GIL, per {unit}: {total / RATE / served * 1e6:,.0f} µs")
    print("\n".join(lines), flush=True)
