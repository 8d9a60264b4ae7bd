"""Python CPU of one ingestion request, in process: the WSGI application called directly.

``python -m tests.bench.request_path`` measures what a web worker spends on a request of the
ingestion bench (tests/bench/wrk/events.lua's bodies: one track event to ``/v1/events``, or a
batch of 100 to ``/v1/batch``) from the WSGI call (``tracklayer.wsgi.application``, the lean
dispatcher of ADR 0019) to the last byte of the answer — without gunicorn, the socket and the
load generator, so that the figure is the request path's own and a change to it shows. The
application runs with the production settings the HTTP bench gives gunicorn
(``tests/bench/ingest_server.server_environment``: TRACKLAYER_ENV=production, DEBUG off, the
security middleware and headers, Redis for keys, rate limit and delivery kicks), except that
group commit is off, so the store runs inline in the request's thread and is counted.

Each figure is ``time.process_time()`` (every thread of the process) over ``--requests``
requests after a warm-up, in a fresh child process; ``--store stub`` replaces
``events_store`` (the commit path, ``destinations/ingestion/store.py``) with one that stores
nothing and acknowledges every event, which leaves the request path alone.

A/B: ``--against DIR`` runs the same rounds, alternating, with the application imported from
``DIR`` (a copy of the checkout holding the old code), and prints both with each round's
figure. ``--profile`` runs one child under cProfile and prints the functions by own time.

Databases: fresh ones named after ``BENCH_DATABASE`` (default ``tracklayer_bench_rp``, dropped at
the end), and Redis database 13 of ``REDIS_URL``'s server — this is not ``python -m
tests.bench`` and shares none of its state when both names are set apart.
"""

import argparse
import gc
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SINGLE_PATH, BATCH_PATH = "/v1/events", "/v1/batch"
BATCH_SIZE = 100
# tests/bench/wrk/events.lua's event, with its thread number ``i`` and counter ``n``.
EVENT = (
    '{{"type":"track","event":"Order Completed","userId":"user-{i}-{n}",'
    '"anonymousId":"anon-{i}-{n}","messageId":"{tag}-{i}-{n}",'
    '"timestamp":"2026-11-23T10:15:30.120Z","sentAt":"2026-11-23T10:15:31.000Z",'
    '"properties":{{"order_id":"A-{n}","value":59.9,"currency":"EUR"}},'
    '"context":{{"traits":{{"email":"visitor.{i}.{n}@example.com","phone":"+49 30 {p}{m:06d}"}},'
    '"ip":"203.0.113.7","userAgent":"Mozilla/5.0 (Linux; Android 14) Chrome/124.0 Mobile",'
    '"location":{{"country":"DE"}},'
    '"consent":{{"tcString":"CQSbk4AQSbk4ANwAAAENAwCgAAAAAAAAAAYgACPAAAAA.IDKQA4AAgAKAGQAygAAA",'
    '"consentMode":{{"ad_user_data":"granted","ad_personalization":"denied"}}}}}}}}'
)


def event(tag: str, n: int, i: int = 1) -> str:
    return EVENT.format(i=i, n=n, tag=tag, p=2 + i, m=n % 1_000_000)


def bodies(mode: str, tag: str, count: int) -> list[bytes]:
    if mode == "single":
        return [event(tag, n).encode() for n in range(1, count + 1)]
    return [
        (
            '{"batch":['
            + ",".join(event(tag, r * BATCH_SIZE + k) for k in range(1, BATCH_SIZE + 1))
            + "]}"
        ).encode()
        for r in range(count)
    ]


# --- The child: one process, one variant of the code, one figure -------------------------------


def _environ(path: str, body: bytes, token: str) -> dict:
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "50000",
        "HTTP_HOST": "127.0.0.1:8000",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_AUTHORIZATION": f"Bearer {token}",
        "HTTP_X_FORWARDED_PROTO": "https",
        "HTTP_USER_AGENT": "wrk",
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def _stub_store() -> None:
    """``events_store`` that stores nothing and acknowledges every event."""
    from destinations.ingestion import services
    from destinations.ingestion.store import WriteResult

    def events_store(request, *, group_commit):
        return WriteResult(stored=list(request.events), duplicates=[])

    services.events_store = events_store


def child(arguments) -> None:
    sys.path.insert(0, os.getcwd())
    from tracklayer.wsgi import application

    if arguments.store == "stub":
        _stub_store()
    path = SINGLE_PATH if arguments.mode == "single" else BATCH_PATH
    warmup = max(arguments.requests // 10, 20)
    sent = bodies(arguments.mode, arguments.tag, warmup + arguments.requests)
    environs = [_environ(path, body, arguments.token) for body in sent]
    statuses: dict[str, int] = {}
    answers = []

    def start_response(status, headers, exc_info=None):
        statuses[status] = statuses.get(status, 0) + 1
        answers.append((status, headers))

    def run(batch: list[dict]) -> None:
        for environ in batch:
            result = application(environ, start_response)
            b"".join(result)
            result.close()

    run(environs[:warmup])
    statuses.clear()
    collecting = {"start": 0.0, "seconds": 0.0, "full": 0}

    def collected(phase, info):  # the garbage collector's CPU, part of the figure
        if phase == "start":
            collecting["start"] = time.process_time()
        else:
            collecting["seconds"] += time.process_time() - collecting["start"]
            collecting["full"] += info["generation"] == 2

    gc.callbacks.append(collected)
    profile = None
    if arguments.profile:
        import cProfile

        profile = cProfile.Profile()
        profile.enable()
    cpu, wall = time.process_time(), time.perf_counter()
    run(environs[warmup:])
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    gc.callbacks.remove(collected)
    if profile is not None:
        profile.disable()
        profile.dump_stats(arguments.profile)
    print(
        "REQUEST_PATH_JSON "
        + json.dumps(
            {
                "requests": arguments.requests,
                "cpu_us": cpu / arguments.requests * 1e6,
                "wall_us": wall / arguments.requests * 1e6,
                "gc_us": collecting["seconds"] / arguments.requests * 1e6,
                "gc_full": collecting["full"],
                "statuses": statuses,
                "headers": [list(pair) for pair in answers[-1][1]],
            }
        ),
        flush=True,
    )


# --- The parent: databases, a key, the rounds -------------------------------------------------


def _setup() -> tuple[str, str]:
    """Fresh bench databases with a workspace that is never throttled; (database URL, key)."""
    os.environ.setdefault("BENCH_DATABASE", "tracklayer_bench_rp")
    from tests.bench import environment

    database_url = environment.configure()
    environment.recreate_database(database_url)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    from tests.bench.ingestion import prepare

    return database_url, prepare("us").token


def _run_child(directory: Path, arguments, *, database_url: str, token: str, tag: str, profile=""):
    from tests.bench.ingest_server import server_environment

    with tempfile.TemporaryDirectory(prefix="tracklayer-rp-") as static:
        env = server_environment(
            database_url=database_url,
            redis_url=os.environ["TEST_REDIS_URL"],
            static_root=static,
        )
        env.update(
            EVENTS_GROUP_COMMIT="0",
            DJANGO_SETTINGS_MODULE="tracklayer.settings",
            PYTHONPATH=str(directory),
        )
        command = [
            sys.executable,
            "-m",
            "tests.bench.request_path",
            "--child",
            *("--mode", arguments.mode, "--requests", str(arguments.requests)),
            *("--store", arguments.store, "--token", token, "--tag", tag),
            *(("--profile", profile) if profile else ()),
        ]
        answer = subprocess.run(
            command, cwd=directory, env=env, capture_output=True, text=True, check=False
        )
    lines = [line for line in answer.stdout.splitlines() if line.startswith("REQUEST_PATH_JSON ")]
    if answer.returncode or not lines:
        raise RuntimeError(f"child failed ({answer.returncode}):\n{answer.stdout}\n{answer.stderr}")
    return json.loads(lines[-1].removeprefix("REQUEST_PATH_JSON "))


def _print_profile(path: str, limit: int = 45) -> None:
    import pstats

    stats = pstats.Stats(path)
    stats.sort_stats("tottime").print_stats(limit)
    stats.sort_stats("cumulative").print_stats(limit)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=("single", "batch"), default="single")
    parser.add_argument("--requests", type=int, default=0, help="per round (single 3000, batch 60)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--store", choices=("inline", "stub"), default="inline")
    parser.add_argument("--against", type=Path, help="a checkout with the old code (A/B)")
    parser.add_argument("--profile", nargs="?", const="request_path.prof", default="", help="file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    parser.add_argument("--tag", help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if not arguments.requests:
        arguments.requests = 3000 if arguments.mode == "single" else 60
    if arguments.child:
        child(arguments)
        return
    database_url, token = _setup()
    from tests.bench import environment

    unit = "request" if arguments.mode == "single" else "event"
    per = 1 if arguments.mode == "single" else BATCH_SIZE
    try:
        if arguments.profile:
            arguments.profile = str(Path(arguments.profile).resolve())
            figure = _run_child(
                ROOT,
                arguments,
                database_url=database_url,
                token=token,
                tag=f"p{time.time_ns()}",
                profile=arguments.profile,
            )
            print(f"{figure['cpu_us'] / per:,.0f} µs CPU per {unit} (under cProfile)")
            _print_profile(arguments.profile)
            return
        variants = {"new": ROOT}
        if arguments.against:
            variants = {"old": arguments.against.resolve(), "new": ROOT}
        figures: dict[str, list[float]] = {name: [] for name in variants}
        for turn in range(arguments.rounds):
            order = list(variants.items())
            for name, directory in order[:: -1 if turn % 2 else 1]:
                figure = _run_child(
                    directory,
                    arguments,
                    database_url=database_url,
                    token=token,
                    tag=f"{name}{turn}t{time.time_ns()}",
                )
                expected = {"200 OK": arguments.requests}
                if figure["statuses"] != expected:
                    raise RuntimeError(f"{name}: answers {figure['statuses']}, not {expected}")
                figures[name].append(figure["cpu_us"] / per)
                print(
                    f"round {turn + 1} {name}: {figure['cpu_us'] / per:,.1f} µs CPU per {unit}"
                    f" (wall {figure['wall_us'] / per:,.1f}; garbage collector"
                    f" {figure['gc_us'] / per:,.1f}, {figure['gc_full']} full collections)",
                    flush=True,
                )
        print(f"\n{arguments.mode}, store {arguments.store}, {arguments.requests} a round:")
        for name, values in figures.items():
            spread = f"{min(values):,.1f}–{max(values):,.1f}"
            print(f"  {name}: median {statistics.median(values):,.1f} µs per {unit} ({spread})")
        if len(figures) == 2:
            # Each round's two runs saw the machine in about the same state: their ratio is
            # steadier than either figure on a shared machine.
            ratios = [new / old for old, new in zip(figures["old"], figures["new"], strict=True)]
            print(
                f"  new/old per round: median {statistics.median(ratios):.3f}"
                f" ({min(ratios):.3f}–{max(ratios):.3f})"
            )
    finally:
        environment.drop_database(database_url)


if __name__ == "__main__":
    main()
