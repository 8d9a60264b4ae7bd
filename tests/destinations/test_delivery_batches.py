"""Review of issue 17's delivery changes: a batch's consent decisions shared per distinct
stored signals, the next batch claimed while this one still holds its rows (SKIP LOCKED), and
no process-wide cache of page URLs; Meta's precheck without hashing; a probed dead destination
still raising the ``destination_down`` anomaly."""

import random
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connections
from django.utils import timezone

from destinations import delivery
from destinations.adapters.meta import MetaConversionsAdapter
from destinations.delivery import engine, mapping
from destinations.delivery.mapping import Claimed, ClaimedEvent, outgoing_event
from destinations.ingestion.runtime import workspace_runtime
from destinations.metrics.selectors import minute_number
from destinations.models import Delivery, Destination
from monitoring.anomalies import detectors, selectors
from privacy.consent import ConsentSignals, decide
from tests.destinations.factories import DestinationFactory
from tests.destinations.helpers import (
    CONSENTED,
    local,
    order,
    outgoing_order,
    send_batch,
    sha256_hex,
)


def test_no_process_cache_keeps_a_page_url():
    """A page URL is personal data (click ids, an e-mail a shop put in its query string):
    its parse is remembered for the batch only (docs/privacy-pii.md "Caches"), not in a
    process-wide cache that outlives the event's erasure."""
    url = "https://shop.example/p?email=ada%40example.com&fbclid=Xy1"
    claimed = Claimed(
        pk=1,
        event_id=1,
        attempts=0,
        event=ClaimedEvent(
            message_id="m-1",
            type="track",
            name="Order Completed",
            anonymous_id="a",
            timestamp=datetime(2026, 12, 6, tzinfo=UTC),
            properties={},
            context={"page": {"url": url}},
            identifiers={},
            consent={},
        ),
        operational=None,
    )
    destination = Destination(event_mapping={}, property_mapping={})
    memo: dict = {}

    item = outgoing_event(claimed, destination, None, anonymized=False, spec="meta", memo=memo)
    again = outgoing_event(claimed, destination, None, anonymized=False, spec="meta")

    assert item.click_ids["fbc"].endswith(".Xy1") and again.click_ids == item.click_ids
    assert list(memo) == [url]  # the batch's memo: dropped with the batch
    caches = [  # this module's own (the standard library's urlsplit keeps its last 20 URLs)
        value
        for value in vars(mapping).values()
        if hasattr(value, "cache_info") and value.__module__ == mapping.__name__
    ]
    assert all(cache.cache_info().currsize == 0 for cache in caches), caches


MIXED = [
    # granted in Germany
    {**CONSENTED},
    # the advertising category refused: blocked
    {**CONSENTED, "consent": {"categoryPreferences": {"advertising": False}}},
    # California with Global Privacy Control: Meta sells or shares, so blocked
    {**CONSENTED, "location": {"country": "US", "region": "CA"}, "consent": {"gpc": True}},
    # the same GPC signal in Germany (no GPC regime there by default)
    {**CONSENTED, "location": {"country": "DE"}, "consent": {"gpc": True}},
    # California without GPC
    {**CONSENTED, "location": {"country": "US", "region": "CA"}, "consent": {}},
]


@pytest.mark.django_db
def test_each_event_of_a_mixed_batch_gets_the_decision_of_its_own_signals(
    client, workspace, token, platforms, monkeypatch
):
    """The batch decides once per distinct stored signals (``engine._decider``): interleaved
    events with different country, region, GPC and category signals each get exactly the
    decision ``decide`` gives for their own stored signals, never a neighbour's."""
    destination = DestinationFactory(
        workspace=workspace, type="meta_capi", config=local("meta_capi", platforms)
    )
    # known to answer: one batch
    monkeypatch.setitem(engine._answered, destination.pk, time.monotonic())
    events = [
        order(f"mixed-{round_}-{kind}", context={**context, "traits": {"email": "a@b.example"}})
        for round_ in range(3)
        for kind, context in enumerate(MIXED)
    ]
    send_batch(client, token, *events)
    delivery.events_fanout()

    result = delivery.destination_deliver(destination_id=destination.pk)

    assert result.claimed == len(events)
    config = workspace_runtime(workspace_id=workspace.pk).config.consent
    policy = engine.destination_policy(destination, config.policies)
    actions, decisions = set(), set()
    for stored in Delivery.objects.for_workspace(workspace).select_related("event"):
        signals = ConsentSignals.from_dict(stored.event.consent)
        expected = decide(consent=signals, policy=policy, jurisdiction=config.jurisdiction(signals))
        assert stored.decision == expected.to_dict(), stored.event.message_id
        actions.add(stored.decision["action"])
        decisions.add(str(stored.decision))
    assert actions == {"deliver", "block"} and len(decisions) >= 3  # a really mixed batch


@pytest.mark.django_db(transaction=True)
def test_the_next_batch_claimed_mid_batch_takes_other_rows(
    client, workspace, token, platforms, monkeypatch
):
    """``on_more`` queues the next batch while this one still holds its rows: the next claim
    (another connection, as another worker thread) skips the locked rows (FOR UPDATE SKIP
    LOCKED), so no event is sent twice, and every event is delivered once."""
    monkeypatch.setattr(MetaConversionsAdapter, "max_batch", 6)
    destination = DestinationFactory(
        workspace=workspace, type="meta_capi", config=local("meta_capi", platforms)
    )
    monkeypatch.setitem(engine._answered, destination.pk, time.monotonic())  # known to answer
    send_batch(client, token, *[order(f"skip-{i}") for i in range(20)])
    delivery.events_fanout()
    inner: list = []

    def next_batch_meanwhile(region: str) -> None:
        def other_thread():
            try:
                inner.append(delivery.destination_deliver(destination_id=destination.pk))
            finally:
                connections.close_all()

        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join(30)

    first = delivery.destination_deliver(
        destination_id=destination.pk, on_more=next_batch_meanwhile
    )

    [second] = inner
    assert (first.claimed, first.delivered, first.more) == (6, 6, True)
    assert (second.claimed, second.delivered, second.busy) == (6, 6, False)
    while delivery.destination_deliver(destination_id=destination.pk).more:
        pass
    sent = [event["event_id"] for event in platforms.received("meta")]
    assert sorted(sent) == sorted(f"skip-{i}" for i in range(20))  # each once
    assert set(Delivery.objects.for_workspace(workspace).values_list("status", flat=True)) == {
        "delivered"
    }


def _meta_precheck_from_user_data(adapter, event, now):
    """Meta's precheck as it read before issue 17: from the built ``user_data``."""
    data = adapter.user_data(event)
    matchable = any(k in data for k in ("em", "ph", "external_id", "fbc", "fbp"))
    if event.anonymized:
        return "anonymized"
    if not matchable and not ("client_ip_address" in data and "client_user_agent" in data):
        return "unmatchable"
    if (event.action_source or "website") == "website" and "client_user_agent" not in data:
        return "no user agent"
    return None


def test_metas_precheck_without_hashing_agrees_with_the_user_data_it_sends():
    """The precheck reads the event's fields instead of building ``user_data`` (no hashing):
    on random events — digests, plain text, lists, blanks, wrong types — it refuses exactly
    when the ``user_data`` Meta would receive has nothing to match on."""
    adapter = MetaConversionsAdapter()
    rng = random.Random(17)
    now = datetime.now(UTC)
    values = [
        None,
        "",
        " ",
        "ada@example.com",
        sha256_hex("a"),
        f"  {sha256_hex('b').upper()} ",
        [sha256_hex("c")],
        ["plain", ""],
        ["plain", sha256_hex("d")],
        (sha256_hex("e"),),
        42,
        {"em": sha256_hex("f")},
    ]
    reasons = {
        "anonymized": "without identifiers",
        "unmatchable": "customer information it can match on",
        "no user agent": "client_user_agent",
    }
    seen = set()
    for _ in range(3_000):
        user_data = {
            name: rng.choice(values)
            for name in ("em", "ph", "external_id", "fn", "ct")
            if rng.random() < 0.4
        }
        event = outgoing_order(
            now=now,
            event_name="Purchase",
            user_data=user_data,
            external_id=rng.choice(values[:7]) or "",
            ip=rng.choice([None, "", "203.0.113.9"]),
            user_agent=rng.choice(["", "Mozilla/5.0"]),
            click_ids={k: rng.choice(["", " ", "fb.1.1.x", None, 7]) for k in ("fbc", "fbp")},
            anonymized=rng.random() < 0.05,
        )
        expected = _meta_precheck_from_user_data(adapter, event, now)
        refusal = adapter.precheck(event, now)
        seen.add(expected)
        if expected is None:
            assert refusal is None, (event, refusal)
        else:
            assert refusal and reasons[expected] in refusal, (event, refusal)
    assert seen == {None, *reasons}


@pytest.mark.django_db
def test_a_dead_destination_probed_with_small_batches_still_raises_destination_down(
    client, workspace, token, platforms
):
    """Probing sends a dead destination 10 events a try, not 1,000: its minute figures still
    count failed tries and no delivery in each minute it is tried, which is what the
    ``destination_down`` anomaly reads (every try failed in 2 consecutive minutes)."""
    destination = DestinationFactory(
        workspace=workspace, type="meta_capi", config=local("meta_capi", platforms)
    )
    Destination.objects.filter(pk=destination.pk).update(autopause_min_attempts=1000)
    send_batch(client, token, *[order(f"down-{i}") for i in range(40)])
    delivery.events_fanout()
    platforms.behave("meta", mode="error", status=503)
    now = timezone.now().replace(second=5, microsecond=0)

    tries = []
    for minute in (0, 1):
        at = now + timedelta(minutes=minute)
        Delivery.objects.for_workspace(workspace).update(next_attempt_at=at)
        tries.append(delivery.destination_deliver(destination_id=destination.pk, now=at))

    assert [(t.claimed, t.retried, t.delivered) for t in tries] == [
        (delivery.PROBE_BATCH, 10, 0)
    ] * 2
    figures = selectors.region_figures(region=workspace.region, at=minute_number(now) + 1)
    found = detectors.detect_delivery(figures[workspace.pk], minute_number(now) + 1)
    [down] = [f for f in found if f.kind == "destination_down"]
    assert down.subject == f"destination:{destination.public_id}"
    assert down.evidence["observed"] == 2 * delivery.PROBE_BATCH
