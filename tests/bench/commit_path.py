"""PostgreSQL's cost per single-event request on the group-commit path (issue 17), in process.

``python -m tests.bench.commit_path [--processes 3] [--threads 8] [--seconds 8] [--rounds 3]
[--tree DIR ...]`` creates its own databases (``BENCH_DATABASE``, default ``tracklayer_h3``,
and its regions'; Redis from ``REDIS_URL``, db 13), a US workspace and a test key, and then, per
round and per tree in turns (A, B, A, B …), starts ``--processes`` Python processes from that
source tree, each with ``--threads`` threads calling the real ingestion service
(``event_ingest``, one ~630-byte track event per call, unique messageIds) through the real
``GroupCommitWriter``. No HTTP, no gunicorn: only what one event costs from the service down.

Per round it reports requests/s, p50/p99 of a call, requests per commit (calls of the
writer's ``_write_once``), commits per second seen by PostgreSQL (``pg_stat_database``), the
CPU time of the writers' PostgreSQL backends (``/proc/PID/schedstat``, ns) and of every backend
of the bench databases, per request, and the Python processes' CPU per request.

Several ``--tree`` (a checkout, e.g. ``git archive HEAD | tar -x -C /tmp/base``) compare
versions of the code on the same databases, rounds interleaved so that a machine shared with
other work favours neither.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import orjson
import psycopg

os.environ.setdefault("BENCH_DATABASE", "tracklayer_h3")
from tests.bench import environment  # after the line above: it reads BENCH_DATABASE

ROOT = Path(__file__).resolve().parents[2]


def _cpu_ns(pid: int, tid: int | None = None) -> int:
    """Time on CPU of a process (or one of its threads), from /proc schedstat; 0 if gone."""
    path = f"/proc/{pid}/task/{tid}/schedstat" if tid else f"/proc/{pid}/schedstat"
    try:
        return int(Path(path).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def _event(tag: str, n: int) -> dict:
    """The wrk script's event (tests/bench/wrk/events.lua), messageId unique to the run."""
    return {
        "type": "track",
        "event": "Order Completed",
        "userId": f"user-{tag}-{n}",
        "anonymousId": f"anon-{tag}-{n}",
        "messageId": f"{tag}-{n}",
        "timestamp": "2026-11-23T10:15:30.120Z",
        "sentAt": "2026-11-23T10:15:31.000Z",
        "properties": {"order_id": f"A-{n}", "value": 59.9, "currency": "EUR"},
        "context": {
            "traits": {"email": f"visitor.{tag}.{n}@example.com", "phone": f"+49 30 {n:06d}"},
            "ip": "203.0.113.7",
            "userAgent": "Mozilla/5.0 (Linux; Android 14) Chrome/124.0 Mobile",
            "location": {"country": "DE"},
            "consent": {
                "tcString": "CQSbk4AQSbk4ANwAAAENAwCgAAAAAAAAAAYgACPAAAAA.IDKQA4AAgAKAGQAygAAA",
                "consentMode": {"ad_user_data": "granted", "ad_personalization": "denied"},
            },
        },
    }


# --- a worker process --------------------------------------------------------------------------


def worker(token: str, threads: int, seconds: float, warmup: float, spin: float = 0.0) -> None:
    """One web process's worth of request threads. Protocol on stdout/stdin with the parent:
    after the warm-up ``READY {...}``, then waits for a line; measures ``seconds``; prints
    ``RESULT {...}``; waits for a line; exits."""
    environment.configure()
    import django

    django.setup()
    from django.conf import settings
    from django.db import connections

    from destinations.ingestion import services, store
    from workspaces.auth.api_keys import api_key_authenticate

    settings.EVENTS_GROUP_COMMIT = True
    key = api_key_authenticate(token)
    commits = [0]
    writer_ids: dict = {}
    backends_seen: set[int] = set()  # the writer's connections while measuring
    original = store._write_once

    def counted(requests, database, **options):
        commits[0] += 1
        if not writer_ids:
            writer_ids["tid"] = threading.get_native_id()
        result = original(requests, database, **options)
        backend = connections[database].connection.info.backend_pid
        writer_ids.setdefault("backend", backend)
        if phase["measure"]:
            backends_seen.add(backend)
        return result

    store._write_once = counted
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    phase = {"measure": False, "stop": False}
    latencies: list[list[float]] = [[] for _ in range(threads)]
    calls = [0] * threads
    errors = [0] * threads
    first_error: list[str] = []

    def run(index: int) -> None:
        n = 0
        body = len(orjson.dumps(_event(tag, 0)))
        while not phase["stop"]:
            n += 1
            raw = _event(f"{tag}-{index}", n)
            started = time.perf_counter()
            while time.perf_counter() - started < spin:  # the HTTP server's and view's Python
                pass
            try:
                services.event_ingest(
                    key=key,
                    events=[raw],
                    kind="track",
                    source="segment",
                    single_size=body,
                    request_ip="203.0.113.7",
                    headers={},
                )
            except Exception as error:  # counted, the first one reported by the parent
                errors[index] += 1
                first_error.append(repr(error))
            if phase["measure"]:
                latencies[index].append(time.perf_counter() - started)
                calls[index] += 1
        connections.close_all()

    workers = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(threads)]
    for thread in workers:
        thread.start()
    time.sleep(warmup)
    print("READY " + json.dumps(writer_ids), flush=True)
    sys.stdin.readline()
    process = time.process_time()
    writer = _cpu_ns(os.getpid(), writer_ids.get("tid"))
    backend = _cpu_ns(writer_ids.get("backend", 0))
    first_commit = commits[0]
    started = time.perf_counter()
    phase["measure"] = True
    time.sleep(seconds)
    phase["measure"] = False
    elapsed = time.perf_counter() - started
    backend_cpu = (_cpu_ns(writer_ids.get("backend", 0)) - backend) / 1e9
    result = {
        "calls": sum(calls),
        "errors": sum(errors),
        "seconds": elapsed,
        "commits": commits[0] - first_commit,
        "process_cpu": time.process_time() - process,
        "writer_thread_cpu": (_cpu_ns(os.getpid(), writer_ids.get("tid")) - writer) / 1e9,
        # Its backend's, read here so that the window is exactly the measured one; valid only
        # if the writer kept that one connection throughout.
        "writer_backend_cpu": backend_cpu,
        "writer_connections": len(backends_seen),
        "latencies": sorted(x for own in latencies for x in own),
        "first_error": first_error[0] if first_error else "",
    }
    print("RESULT " + json.dumps(result), flush=True)
    sys.stdin.readline()  # the parent has read the backends' CPU time: their connections may go
    phase["stop"] = True
    for thread in workers:
        thread.join(timeout=30)
    store.events_writer_stop()


# --- the parent ----------------------------------------------------------------------------------


def _backends(url: str) -> dict[int, int]:
    names = [environment.DATABASE_NAME, *environment.REGION_DATABASE_NAMES.values()]
    with psycopg.connect(url, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = ANY(%s) AND pid <> pg_backend_pid()",
            [names],
        ).fetchall()
    times = {pid: _cpu_ns(pid) for (pid,) in rows}
    return {pid: ns for pid, ns in times.items() if ns}  # 0: it ended meanwhile


def _commits(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as connection:
        return connection.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = %s",
            [environment.REGION_DATABASE_NAMES["us"]],
        ).fetchone()[0]


class _Waits(threading.Thread):
    """Samples what the writers' backends wait on (pg_stat_activity), every 5 ms: the share of
    samples in which one waits for a row lock another commit holds, for the WAL's flush, for
    the client (the writer thread) or runs."""

    def __init__(self, url: str, pids: list[int]):
        super().__init__(daemon=True)
        self.url, self.pids, self.stop = url, pids, threading.Event()
        self.samples: dict[str, int] = {}

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as connection:
            while not self.stop.wait(0.005):
                rows = connection.execute(
                    "SELECT state, wait_event_type, wait_event FROM pg_stat_activity"
                    " WHERE pid = ANY(%s)",
                    [self.pids],
                ).fetchall()
                for state, kind, event in rows:
                    if kind == "Lock":
                        name = "row lock"
                    elif event in ("WALSync", "WALWrite", "WALInsert"):
                        name = "WAL flush"
                    elif kind == "Client" or state != "active":
                        name = "client"
                    else:
                        name = f"running ({event or 'cpu'})"
                    self.samples[name] = self.samples.get(name, 0) + 1

    def shares(self) -> dict[str, float]:
        total = sum(self.samples.values()) or 1
        return {name: n / total for name, n in sorted(self.samples.items())}


def _line(process: subprocess.Popen, prefix: str) -> dict:
    while True:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {process.pid} ended before {prefix}")
        if line.startswith(prefix + " "):
            return json.loads(line[len(prefix) + 1 :])


def one_round(tree: Path, url: str, token: str, arguments) -> dict:
    command = [sys.executable, "-m", "tests.bench.commit_path", "worker", token]
    command += [str(arguments.threads), str(arguments.seconds), str(arguments.warmup)]
    command += [str(arguments.spin_us / 1e6)]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    processes = [
        subprocess.Popen(
            command, cwd=tree, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        for _ in range(arguments.processes)
    ]
    try:
        ready = [_line(process, "READY") for process in processes]
        writers = [r["backend"] for r in ready if "backend" in r]
        commits = _commits(url)
        before = _backends(url)
        waits = _Waits(environment._with_database(url, "postgres"), writers)
        waits.start()
        for process in processes:
            process.stdin.write("go\n")
            process.stdin.flush()
        results = [_line(process, "RESULT") for process in processes]
        after = _backends(url)
        waits.stop.set()
        waits.join()
        for process in processes:
            process.stdin.write("exit\n")
            process.stdin.flush()
        for process in processes:
            process.wait(timeout=60)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    time.sleep(0.7)  # the backends' statistics are flushed as they exit
    calls = sum(r["calls"] for r in results)
    latencies = sorted(x for r in results for x in r["latencies"])
    seconds = max(r["seconds"] for r in results)
    # Only backends seen before and after (one that ended or began meanwhile is left out:
    # its CPU time cannot be split at the round's edges), so a figure is a lower bound.
    kept = [r for r in results if r["writer_connections"] == 1]
    writer_cpu = sum(r["writer_backend_cpu"] for r in kept)
    measured = kept
    all_cpu = sum(after[pid] - before[pid] for pid in after if pid in before) / 1e9
    return {
        "tree": str(tree),
        "waits": waits.shares(),
        "calls": calls,
        "errors": sum(r["errors"] for r in results),
        "writers_measured": f"{len(measured)}/{len(processes)}",
        "first_error": next((r["first_error"] for r in results if r["first_error"]), ""),
        "req_s": calls / seconds,
        "p50_ms": latencies[len(latencies) // 2] * 1e3 if latencies else 0,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1e3 if latencies else 0,
        "per_commit": calls / max(1, sum(r["commits"] for r in results)),
        "pg_commits_s": (_commits(url) - commits) / seconds,
        # per request of the processes whose writer kept its connection
        "writer_backend_us": writer_cpu / sum(r["calls"] for r in kept) * 1e6 if kept else 0,
        "all_backends_us": all_cpu / calls * 1e6 if calls else 0,
        "python_us": sum(r["process_cpu"] for r in results) / calls * 1e6 if calls else 0,
        "writer_thread_us": sum(r["writer_thread_cpu"] for r in results) / calls * 1e6
        if calls
        else 0,
    }


def _prepare() -> tuple[str, str]:
    """Fresh bench databases, migrated, with a US workspace that does not throttle and its
    key; returns (control plane URL, token)."""
    url = environment.configure()
    environment.recreate_database(url)
    import django

    django.setup()
    from django.core.cache import cache
    from django.core.management import call_command

    from tests.bench.__main__ import _use_only_redis_database_13

    _use_only_redis_database_13()
    cache.clear()
    call_command("migrate", interactive=False, verbosity=0)
    from tests.bench.ingestion import prepare

    return url, prepare("us").token


COLUMNS = [
    ("req_s", "req/s", ",.0f"),
    ("p50_ms", "p50 ms", ".2f"),
    ("p99_ms", "p99 ms", ".2f"),
    ("per_commit", "req/commit", ".2f"),
    ("pg_commits_s", "PG commits/s", ",.0f"),
    ("writer_backend_us", "writer backend µs/req", ",.0f"),
    ("all_backends_us", "all backends µs/req", ",.0f"),
    ("python_us", "Python µs/req", ",.0f"),
    ("writer_thread_us", "writer thread µs/req", ",.0f"),
]


def main(argv: list[str]) -> None:
    if argv and argv[0] == "worker":
        worker(argv[1], int(argv[2]), float(argv[3]), float(argv[4]), float(argv[5]))
        return
    parser = argparse.ArgumentParser(prog="python -m tests.bench.commit_path")
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--spin-us",
        type=float,
        default=0.0,
        help="Python work per call before the service, holding the GIL (what HTTP and the view"
        " cost a request: with ~1,000 µs commits carry 1-2 requests, as over HTTP)",
    )
    parser.add_argument("--tree", action="append", type=Path)
    parser.add_argument("--keep", action="store_true", help="leave the databases")
    arguments = parser.parse_args(argv)
    trees = arguments.tree or [ROOT]
    url, token = _prepare()
    rounds: dict[str, list[dict]] = {str(tree): [] for tree in trees}
    try:
        for number in range(arguments.rounds):
            order = trees if number % 2 == 0 else list(reversed(trees))
            for tree in order:
                result = one_round(tree, url, token, arguments)
                rounds[str(tree)].append(result)
                figures = "  ".join(f"{name} {result[key]:{fmt}}" for key, name, fmt in COLUMNS)
                print(
                    f"round {number + 1} {tree}: {figures} errors {result['errors']}"
                    f" writers measured {result['writers_measured']} {result['first_error']}",
                    flush=True,
                )
                waits = ", ".join(f"{name} {share:.0%}" for name, share in result["waits"].items())
                print(f"  writers' backends: {waits}", flush=True)
    finally:
        from django.db import connections

        connections.close_all()
        if not arguments.keep:
            environment.drop_database(url)
    print(
        f"\n{arguments.processes} processes × {arguments.threads} threads, {arguments.seconds:g} s"
        f" a round, {arguments.rounds} rounds per tree in turns: median (min–max)"
    )
    for tree, results in rounds.items():
        print(tree)
        for key, name, fmt in COLUMNS:
            values = [result[key] for result in results]
            low, high = min(values), max(values)
            print(f"  {name:<24} {statistics.median(values):>10{fmt}}  ({low:{fmt}}–{high:{fmt}})")


if __name__ == "__main__":
    main(sys.argv[1:])
