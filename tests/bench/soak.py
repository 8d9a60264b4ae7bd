"""Figures 15-16: the web workers' memory, and a soak at the single-event load (issue 17, 6).

``python -m tests.bench soak`` serves TrackLayer as the ingestion figures do (``make serve``'s
gunicorn configuration, production settings, group commit on) and sends it single events at
c=32 — the load of figure 11, unthrottled — for ``BENCH_SOAK_SECONDS`` (600 by default: the
ten-minute soak of issue 17; set it lower for a quick look), in consecutive wrk runs of
``SEGMENT_SECONDS``. After each run it reads every worker's resident memory (VmRSS, /proc).

- **15** RSS per web worker: after the warm-up, and at the end (each worker, MiB).
- **16** the soak: requests, errors (non-2xx and socket errors: none allowed), the rate of each
  run, and whether memory stayed flat: each worker's RSS at the end against its RSS
  after the first quarter of the soak (allocators and caches fill up first), at most
  ``FLAT_GROWTH`` more; and every acknowledged event stored (as figure 14).
"""

import os
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from tests.bench import ingestion
from tests.bench.ingest_server import CHOSEN, Server, ServerConfig
from tests.bench.report import Row, table

SECONDS = float(os.environ.get("BENCH_SOAK_SECONDS", "600"))
SEGMENT_SECONDS = 30.0
FLAT_GROWTH = 0.05  # at most 5 % above the RSS after the first quarter
MIB = 1024 * 1024

DESCRIPTIONS = [
    "15 resident memory (VmRSS) of each gunicorn worker serving TrackLayer, after a 3 s warm-up",
    "   of single events and at the end of the soak (MiB)",
    "16 POST /v1/events at c=32 (figure 11's load) for BENCH_SOAK_SECONDS (600: issue 17's",
    "   ten minutes) in 30 s wrk runs; flat: every worker's RSS at the end at most 5 % above",
    "   its RSS after the first quarter; no non-2xx answer, no socket error, every",
    "   acknowledged event stored; Redis commands per request: every command the Redis server",
    "   ran during the soak (INFO commandstats, all clients) over the requests answered",
]


def redis_commands(url: str) -> int:
    """Commands the bench's Redis server has run so far (every client, every database)."""
    client = redis.Redis.from_url(url)
    try:
        return sum(stats["calls"] for stats in client.info("commandstats").values())
    finally:
        client.close()


def rss_bytes(pid: int) -> int:
    """VmRSS of a process (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@dataclass(frozen=True)
class Sample:
    at: float  # seconds into the soak
    rss: dict[int, int]  # worker pid → bytes
    rate: float  # the preceding run's 2xx per second


@dataclass(frozen=True)
class Soak:
    config: ServerConfig
    warm: dict[int, int]
    samples: list[Sample]
    loads: list[ingestion.Load]
    acknowledged: int
    stored: int
    restarted: bool  # a worker was replaced during the soak (a crash, a timeout)
    redis_commands: int = 0  # run by the Redis server during the soak (the bench's own: none)

    @property
    def requests(self) -> int:
        return sum(load.status_2xx for load in self.loads)

    @property
    def errors(self) -> int:
        return sum(load.status_other + load.socket_errors for load in self.loads)

    def growth(self) -> dict[int, float]:
        """Each worker's RSS at the end over its RSS after the first quarter, minus one."""
        quarter = self.samples[-1].at / 4
        level = next(s for s in self.samples if s.at >= quarter).rss
        return {
            pid: end / level[pid] - 1 if level.get(pid) else 0.0
            for pid, end in self.samples[-1].rss.items()
        }

    @property
    def missing(self) -> int:
        return max(0, self.acknowledged - self.stored)

    @property
    def passed(self) -> bool:
        return self.flat and not self.errors and not self.missing

    @property
    def flat(self) -> bool:
        return (
            bool(self.samples)
            and not self.restarted
            and all(g <= FLAT_GROWTH for g in self.growth().values())
        )


def run(config: ServerConfig = CHOSEN, seconds: float = SECONDS) -> Soak:
    ingestion.ensure_wrk()
    target = ingestion.prepare("us")
    database_url = os.environ["DATABASE_URL"]
    redis_url = os.environ["TEST_REDIS_URL"]
    samples: list[Sample] = []
    loads: list[ingestion.Load] = []
    with Server(config, database_url=database_url, redis_url=redis_url) as server:
        ingestion._progress(f"soak [{config}]: warm-up {ingestion.WARMUP_SECONDS:g} s")
        warmup = ingestion.wrk(
            f"{server.url}/v1/events", "single", target.token, ingestion.WARMUP_SECONDS
        )
        workers = sorted(server.worker_pids())
        warm = {pid: rss_bytes(pid) for pid in workers}
        commands = redis_commands(redis_url)
        started = time.monotonic()
        while (left := round(seconds - (time.monotonic() - started))) >= 1:
            segment = min(SEGMENT_SECONDS, left)  # whole seconds: wrk's --duration
            load = ingestion.wrk(f"{server.url}/v1/events", "single", target.token, segment)
            loads.append(load)
            at = time.monotonic() - started
            samples.append(Sample(at, {pid: rss_bytes(pid) for pid in workers}, load.per_second))
            ingestion._progress(
                f"soak: {at:,.0f} s, {load.per_second:,.0f} req/s, RSS "
                + ", ".join(f"{rss / MIB:,.0f}" for rss in samples[-1].rss.values())
                + " MiB"
                + (f", {load.problems()}" if load.problems() else "")
            )
        restarted = sorted(server.worker_pids()) != workers
        commands = redis_commands(redis_url) - commands
    acknowledged = warmup.accepted + sum(load.accepted for load in loads)
    return Soak(config, warm, samples, loads, acknowledged, target.stored(), restarted, commands)


def rows(soak: Soak) -> list[Row]:
    mib = lambda rss: f"{rss / MIB:,.0f}"  # noqa: E731
    end = soak.samples[-1].rss if soak.samples else {}
    growth = soak.growth() if soak.samples else {}
    rates = [sample.rate for sample in soak.samples]
    minutes = soak.samples[-1].at / 60 if soak.samples else 0
    verdict = "flat" if soak.flat else "NOT FLAT"
    problems = []
    if soak.errors:
        problems.append(f"{soak.errors:,} errors (TARGET MISSED)")
    if soak.restarted:
        problems.append("a worker was replaced (TARGET MISSED)")
    missing = soak.missing
    return [
        Row(
            "15 RSS per web worker",
            f"{mib(max(end.values(), default=0))} MiB",
            check=f"{len(soak.warm)} workers; after warm-up "
            + ", ".join(map(mib, soak.warm.values()))
            + " MiB; at the end "
            + ", ".join(map(mib, end.values()))
            + " MiB",
        ),
        Row(
            f"16 soak, single events, c={ingestion.CONNECTIONS}",
            f"{soak.requests / max(1e-9, sum(load.seconds for load in soak.loads)):,.0f} req/s",
            check=f"{minutes:,.1f} min, {soak.requests:,} requests; runs "
            f"{min(rates, default=0):,.0f}–{max(rates, default=0):,.0f} req/s; "
            f"memory {verdict} (growth "
            + ", ".join(f"{g:+.1%}" for g in growth.values())
            + f"); {missing:,} acknowledged events missing; Redis commands per request "
            f"{soak.redis_commands / max(1, soak.requests):.3f}"
            + ("; " + "; ".join(problems) if problems else ""),
        ),
    ]


def report() -> Soak:
    soak = run()
    print()
    print(f"memory and soak (issue 17, target 6), {soak.config}, production settings")
    print(table(rows(soak)))
    print()
    print("\n".join(DESCRIPTIONS), flush=True)
    return soak
