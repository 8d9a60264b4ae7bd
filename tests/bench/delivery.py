"""Delivery figures (issue 7): events/s one worker process delivers to a local Meta-shaped
server, ingest-commit-to-delivery latency, and a healthy destination's throughput with and
without a dead one beside it.

The platforms run as a subprocess (``python -m destinations.local_platforms.server``), the
worker as a real Celery worker process (threads pool, consuming every queue) on the bench
databases and the bench's own broker database; nothing here talks to a real platform. The
bench's workspaces are EU ones: their events and deliveries are in the EU region's database.
"""

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from django.conf import settings
from django.utils import timezone

from destinations.delivery import events_fanout
from destinations.delivery.scheduling import destination_deliver_enqueue
from destinations.ingestion import runtime
from destinations.ingestion.envelope import IngestionConfig, Prepared, prepare_event
from destinations.ingestion.store import WriteRequest, events_write
from destinations.models import Delivery, Destination, IngestionSettings
from destinations.routing.services import destination_create
from privacy.selectors import consent_config_get
from tests.bench.report import Row, percentile
from workspaces.actors import SystemActor
from workspaces.regions import data_atomic, workspace_db
from workspaces.services import workspace_create

ACTOR = SystemActor("bench")
ROOT = Path(__file__).resolve().parents[2]
THROUGHPUT_EVENTS = 20_000
ISOLATION_EVENTS = 20_000
LATENCY_SECONDS = 8
LATENCY_RATE = 100  # events per second sent while measuring latency

CONTEXT = {
    "consent": {
        "consentMode": {k: "granted" for k in ("ad_storage", "analytics_storage", "ad_user_data")},
        "categoryPreferences": {"advertising": True, "analytics": True},
    },
    "location": {"country": "DE"},
    "ip": "203.0.113.9",
    "userAgent": "Mozilla/5.0 (bench)",
    "page": {"url": "https://shop.example/checkout"},
    "traits": {"email": "bench@example.com", "phone": "+4930123456"},
}


def _progress(message: str) -> None:
    print(f"... {message}", file=sys.stderr, flush=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def _platforms():
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "destinations.local_platforms.server", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(f"{url}/__received/meta", timeout=1).read()  # noqa: S310
            break
        except OSError:
            time.sleep(0.1)
    try:
        yield url
    finally:
        process.terminate()
        process.wait(10)


def _control(url: str, platform: str, **behaviour) -> None:
    request = urllib.request.Request(  # noqa: S310 - the local server
        f"{url}/__control/{platform}", data=orjson.dumps(behaviour), method="POST"
    )
    urllib.request.urlopen(request, timeout=5).read()  # noqa: S310


@contextmanager
def _worker(concurrency: int = 8):
    from tests.destinations.worker import celery_worker

    with (
        tempfile.TemporaryDirectory() as folder,
        celery_worker(
            Path(folder), concurrency=concurrency, beat=True, sweep_seconds=1, http_timeout=2.0
        ) as worker,
    ):
        yield worker


class _Usage:
    """CPU seconds and memory of a worker process (its main process, whose threads do the
    delivering; the embedded beat is a child of its own), read from /proc."""

    def __init__(self, worker) -> None:
        self.pid = worker.process.pid
        self.started = self.cpu()

    def cpu(self) -> float:
        with open(f"/proc/{self.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def used(self) -> float:
        return self.cpu() - self.started

    def memory_mb(self) -> tuple[float, float]:
        """(RSS now, peak RSS) in MB."""
        values = {}
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                name, _, value = line.partition(":")
                if name in ("VmRSS", "VmHWM"):
                    values[name] = int(value.split()[0]) / 1024
        return values["VmRSS"], values["VmHWM"]


def _workspace(name: str):
    workspace = workspace_create(actor=ACTOR, name=name, slug=None, region="eu", owner=None)
    IngestionSettings.objects.create(workspace=workspace, rate_per_second=10**6, rate_burst=10**7)
    runtime.runtime_forget()
    return workspace


def _destination(workspace, kind: str, url: str) -> Destination:
    if kind == "meta_capi":
        config = {"pixel_id": "1234567890123456", "api_base_url": f"{url}/meta"}
        secrets = {"access_token": "EAAbenchLocalToken0123456789"}
    else:
        config = {"url": f"{url}/webhook/hooks/bench", "batch_size": 500}
        secrets = {"signing_secret": "whsec_demo"}
    return destination_create(
        workspace=workspace, actor=ACTOR, type=kind, name=kind, config=config, secrets=secrets
    )


def _store_events(workspace, count: int, prefix: str) -> None:
    """Accepted events as ingestion stores them (validated, minimised, consent captured)."""
    config = IngestionConfig(consent=consent_config_get(workspace=workspace))
    now = timezone.now()
    for start in range(0, count, 1000):
        prepared: list[Prepared] = []
        for index in range(start, min(count, start + 1000)):
            event = {
                "type": "track",
                "event": "Order Completed",
                "userId": f"user-{index}",
                "messageId": f"{prefix}-{index}",
                "properties": {"value": 10.5, "currency": "EUR", "order_id": f"o-{index}"},
                "context": CONTEXT,
            }
            prepared.append(
                prepare_event(
                    event, index=index, kind=None, received_at=now, config=config, size=700
                )
            )
        with data_atomic(workspace):
            events_write(
                [
                    WriteRequest(
                        workspace=workspace,
                        workspace_id=workspace.pk,
                        api_key_id=None,
                        source="native",
                        received_at=now,
                        events=prepared,
                        statuses=["ok"] * len(prepared),
                    )
                ],
                using=workspace_db(workspace),
            )


def _deliveries(destination: Destination):
    return Delivery.objects.for_workspace(destination.workspace).filter(destination=destination)


def _held(destination: Destination) -> None:
    """Not due until released: a worker's sweep (every second) would otherwise start on them
    before the measurement does (while a second worker is still starting)."""
    _deliveries(destination).update(next_attempt_at=timezone.now() + timedelta(days=1))


def _release(destination: Destination) -> None:
    _deliveries(destination).update(next_attempt_at=timezone.now())
    destination_deliver_enqueue(destination.pk)


def _wait_delivered(destination: Destination, count: int, timeout: float = 300.0) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        done = _deliveries(destination).filter(status="delivered").count()
        if done >= count:
            return time.perf_counter() - started
        time.sleep(0.05)
    raise RuntimeError(f"only {done} of {count} delivered in {timeout} s")


def _throughput(url: str) -> tuple[Row, ...]:
    workspace = _workspace("bench delivery")
    meta = _destination(workspace, "meta_capi", url)
    _progress(f"delivery: storing {THROUGHPUT_EVENTS:,} events")
    _store_events(workspace, THROUGHPUT_EVENTS, "thr")
    started = time.perf_counter()
    while events_fanout()[0]:
        pass
    fanout = time.perf_counter() - started
    _held(meta)
    with _worker(concurrency=4) as worker:
        _progress("delivery: one worker process → local Meta")
        usage = _Usage(worker)
        _release(meta)
        seconds = _wait_delivered(meta, THROUGHPUT_EVENTS)
        cpu = usage.used()
        rss, peak = usage.memory_mb()
    rate = THROUGHPUT_EVENTS / seconds
    delivered = _deliveries(meta).filter(status="delivered").count()
    return (
        Row(
            "20 fan-out: events → deliveries (one transaction per 1,000)",
            f"{THROUGHPUT_EVENTS / fanout:,.0f} events/s",
        ),
        Row(
            f"21 one worker process → local Meta CAPI, {THROUGHPUT_EVENTS:,} events",
            f"{rate:,.0f} events/s",
            check=f"{delivered:,} delivered; target ≥ 5,000/s: "
            + ("met" if rate >= 5000 else "MISSED")
            + f"; worker CPU {cpu / THROUGHPUT_EVENTS * 1e6:,.0f} µs/event "
            f"(one core: {THROUGHPUT_EVENTS / cpu:,.0f} events/s)",
        ),
        Row(
            "21m delivery worker process memory (4 threads, after 21)",
            f"RSS {rss:,.0f} MB",
            check=f"peak {peak:,.0f} MB",
        ),
        _two_workers(url),
    )


def _two_workers(url: str) -> Row:
    """Two worker processes sharing one destination's deliveries (SKIP LOCKED claims, four
    slots): how delivery scales with processes on this machine."""
    workspace = _workspace("bench delivery two workers")
    meta = _destination(workspace, "meta_capi", url)
    _store_events(workspace, THROUGHPUT_EVENTS, "two")
    while events_fanout()[0]:
        pass
    _held(meta)
    with _worker(concurrency=4) as first, _worker(concurrency=4) as second:
        _progress("delivery: two worker processes → local Meta")
        usages = [_Usage(first), _Usage(second)]
        _release(meta)
        seconds = _wait_delivered(meta, THROUGHPUT_EVENTS)
        cpu = sum(usage.used() for usage in usages)
    return Row(
        f"21p two worker processes → local Meta CAPI, {THROUGHPUT_EVENTS:,} events",
        f"{THROUGHPUT_EVENTS / seconds:,.0f} events/s",
        check=f"workers' CPU {cpu / THROUGHPUT_EVENTS * 1e6:,.0f} µs/event; "
        f"{os.cpu_count()} cores shared with the Meta server and PostgreSQL",
    )


def _latency(url: str) -> Row:
    from destinations.ingestion.services import event_ingest
    from workspaces.models import ApiKey, ApiKeyRole
    from workspaces.services import api_key_create

    workspace = _workspace("bench latency")
    meta = _destination(workspace, "meta_capi", url)
    key, _ = api_key_create(workspace=workspace, actor=ACTOR, name="bench", role=ApiKeyRole.WRITE)
    key = ApiKey.objects.select_related("workspace").get(pk=key.pk)
    settings.DELIVERY_KICK = True
    total = LATENCY_SECONDS * LATENCY_RATE
    with _worker(concurrency=8):
        _progress(f"delivery: latency, {LATENCY_RATE} events/s for {LATENCY_SECONDS} s")
        for second in range(LATENCY_SECONDS):
            tick = time.perf_counter()
            for step in range(10):
                events = [
                    {
                        "type": "track",
                        "event": "Order Completed",
                        "userId": f"u-{second}-{step}-{n}",
                        "messageId": f"lat-{second}-{step}-{n}",
                        "properties": {"value": 1, "currency": "EUR"},
                        "context": CONTEXT,
                    }
                    for n in range(LATENCY_RATE // 10)
                ]
                event_ingest(key=key, events=events, kind=None, source="native")
                time.sleep(max(0.0, tick + (step + 1) / 10 - time.perf_counter()))
        _wait_delivered(meta, total, timeout=120)
    settings.DELIVERY_KICK = False
    latencies = [
        (delivered - received).total_seconds()
        for delivered, received in _deliveries(meta).values_list(
            "delivered_at", "event__received_at"
        )
    ]
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    return Row(
        f"22 ingest commit → delivered (Meta), {total:,} events at {LATENCY_RATE}/s",
        f"p50 {p50 * 1000:,.0f} ms · p99 {p99 * 1000:,.0f} ms",
        check="kick after commit; sweep every 1 s as the safety net",
    )


def _isolation(url: str) -> tuple[Row, Row]:
    rates, costs = [], []
    for dead_beside in (False, True):
        workspace = _workspace(f"bench isolation {dead_beside}")
        healthy = _destination(workspace, "webhook", url)
        if dead_beside:
            _destination(workspace, "meta_capi", url)
            _control(url, "meta", mode="timeout")
        prefix = f"iso{int(dead_beside)}"
        _store_events(workspace, ISOLATION_EVENTS, prefix)
        while events_fanout()[0]:
            pass
        destinations = [
            healthy,
            *Destination.objects.filter(workspace=workspace).exclude(pk=healthy.pk),
        ]
        for destination in destinations:
            _held(destination)
        with _worker(concurrency=8) as worker:
            _progress(f"delivery: healthy webhook{' beside a dead Meta' if dead_beside else ''}")
            usage = _Usage(worker)
            for destination in destinations:
                _release(destination)
            seconds = _wait_delivered(healthy, ISOLATION_EVENTS)
            costs.append(usage.used() / ISOLATION_EVENTS * 1e6)
        rates.append(ISOLATION_EVENTS / seconds)
        _control(url, "meta", mode="ok")
    loss = 1 - rates[1] / rates[0]
    return (
        Row(
            "23 healthy webhook alone",
            f"{rates[0]:,.0f} events/s",
            check=f"worker CPU {costs[0]:,.0f} µs per healthy event",
        ),
        Row(
            "24 healthy webhook beside a dead Meta (timeouts)",
            f"{rates[1]:,.0f} events/s",
            check=f"loss {loss * 100:+.1f} %; target < 5 %: {'met' if loss < 0.05 else 'MISSED'}"
            f"; worker CPU {costs[1]:,.0f} µs per healthy event "
            f"({(costs[1] / costs[0] - 1) * 100:+.1f} %)",
        ),
    )


DESCRIPTIONS = [
    "20 events_fanout in the bench process: lock events marked for fan-out, insert deliveries",
    "21 a real Celery worker process (4 threads) claims batches of 1,000 (SKIP LOCKED), runs",
    "   the consent firewall per event, builds Meta's body, POSTs it to the local Meta server",
    "   (a subprocess that validates hashes, ages and fields as Meta does), records attempts;",
    "   worker CPU from /proc (its main process), one core = 1 s of CPU per second",
    "21m the worker's RSS once 21 is delivered, and its peak (VmHWM)",
    "21p the same with two worker processes of 4 threads each, one destination",
    "22 event_ingest in the bench process (100 events/s in batches of 10), a worker with beat;",
    "   latency = delivered_at − received_at (the commit) per event",
    "23-24 20,000 events to a webhook destination, alone and with a Meta destination of the",
    "   same workspace that never answers (2 s client timeout, circuit breaker, auto-pause);",
    "   worker CPU per healthy event delivered, alone and beside it (steadier than the rate",
    "   on a shared machine)",
]


def rows() -> list[Row]:
    started = datetime.now(UTC)
    with _platforms() as url:
        result = [*_throughput(url), _latency(url), *_isolation(url)]
    _progress(f"delivery figures took {(datetime.now(UTC) - started).total_seconds():.0f} s")
    os.environ.pop("DELIVERY_KICK", None)
    return result
