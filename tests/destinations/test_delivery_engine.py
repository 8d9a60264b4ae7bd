"""The delivery engine, run in the test process against the local platform servers:
fan-out, consent at egress, each platform's payload, retries, dead letters, replay, the
circuit breaker and auto-pause. (tests/destinations/test_delivery_worker.py runs the same
through a real Celery worker, including crashes.)"""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEntry
from destinations import delivery
from destinations.models import Delivery, DeliveryAttempt, Destination, Event
from destinations.routing.services import deliveries_replay, destination_resume
from tests.destinations.factories import DestinationFactory
from tests.destinations.helpers import CONSENTED, local, order, run_engine, send_batch
from workspaces.actors import SystemActor

pytestmark = pytest.mark.django_db
ACTOR = SystemActor("tests")

# --- fan-out ----------------------------------------------------------------------------------


def test_fanout_creates_one_delivery_per_matching_destination(client, workspace, token):
    everything = DestinationFactory(workspace=workspace, type="webhook")
    orders_only = DestinationFactory(
        workspace=workspace, type="webhook", event_filter=["Order Completed"]
    )
    gone = DestinationFactory(workspace=workspace, type="webhook")
    Destination.objects.filter(pk=gone.pk).update(deleted_at=timezone.now())
    send_batch(
        client,
        token,
        order("o1"),
        {"type": "page", "anonymousId": "a", "messageId": "p1"},
        {"type": "identify", "userId": "u", "messageId": "i1"},
    )

    count, touched = delivery.events_fanout()
    again = delivery.events_fanout()

    assert count == 3
    assert touched == {everything.pk, orders_only.pk}
    assert again == (0, set())
    assert sorted(
        Delivery.objects.for_workspace(workspace)
        .filter(destination=everything)
        .values_list("event__message_id", flat=True)
    ) == ["o1", "p1"]
    assert list(
        Delivery.objects.for_workspace(workspace)
        .filter(destination=orders_only)
        .values_list("event__message_id", flat=True)
    ) == ["o1"]
    assert not Event.objects.for_workspace(workspace).filter(fanout_pending=True).exists()


# --- each platform gets its own wire format ---------------------------------------------------


def test_meta_receives_hashed_identifiers_and_the_dedup_key(client, workspace, token, platforms):
    DestinationFactory(workspace=workspace, type="meta_capi", config=local("meta_capi", platforms))
    send_batch(client, token, order("meta-1", properties={"event_id": "evt-42", "revenue": 10}))

    run_engine()

    [received] = platforms.received("meta")
    assert received["event_name"] == "Purchase"
    assert received["event_id"] == "evt-42"
    assert received["action_source"] == "website"
    stored = Event.objects.for_workspace(workspace).get(message_id="meta-1").identifiers["meta"]
    assert received["user_data"]["em"] in (stored["em"], [stored["em"]])
    assert received["user_data"]["client_ip_address"] == "203.0.113.50"
    assert "ada@example.com" not in json.dumps(received).lower()
    assert Delivery.objects.for_workspace(workspace).get().status == "delivered"


def test_tiktok_ga4_and_webhook_receive_the_event(client, workspace, token, platforms):
    for kind in ("tiktok_events", "ga4_mp", "webhook"):
        DestinationFactory(workspace=workspace, type=kind, config=local(kind, platforms))
    send_batch(client, token, order("multi-1"))

    run_engine()

    [tiktok] = platforms.received("tiktok")
    [ga4] = platforms.received("ga4")
    [hook] = platforms.received("webhook")
    assert tiktok["event"] == "Purchase"  # TikTok's name since May 2025 (was CompletePayment)
    assert tiktok["event_id"] == "multi-1"
    assert ga4["name"] == "purchase"
    assert hook["messageId"] == "multi-1"
    assert set(Delivery.objects.for_workspace(workspace).values_list("status", flat=True)) == {
        "delivered"
    }


# --- consent at the point of egress -------------------------------------------------------------


def test_consent_blocked_events_never_reach_a_platform(client, workspace, token, platforms):
    DestinationFactory(workspace=workspace, type="meta_capi", config=local("meta_capi", platforms))
    californian = {
        **CONSENTED,
        "consent": {"gpc": True},
        "location": {"country": "US", "region": "CA"},
    }
    send_batch(client, token, order("gpc-1", context=californian), order("ok-1"))

    run_engine()

    assert [e["event_id"] for e in platforms.received("meta")] == ["ok-1"]
    blocked = Delivery.objects.for_workspace(workspace).get(event__message_id="gpc-1")
    assert blocked.status == "blocked"
    assert blocked.decision == {"action": "block", "reasons": ["gpc_opt_out"]}
    assert not DeliveryAttempt.objects.for_workspace(workspace).filter(delivery=blocked).exists()


def test_anonymized_delivery_carries_no_identifiers(client, workspace, token, platforms):
    DestinationFactory(workspace=workspace, type="ga4_mp", config=local("ga4_mp", platforms))
    no_user_data = {
        **CONSENTED,
        "consent": {"consentMode": {"analytics_storage": "granted", "ad_user_data": "denied"}},
    }
    send_batch(
        client, token, order("anon-1", context={**no_user_data, "traits": {"email": "a@b.co"}})
    )

    run_engine()

    made = Delivery.objects.for_workspace(workspace).get()
    assert made.decision["action"] == "deliver_anonymized"
    raw = json.dumps(platforms.state("ga4").requests)
    assert "user_id" not in json.dumps(platforms.received("ga4"))
    assert made.status == "delivered", raw


# --- failures -----------------------------------------------------------------------------------


def test_a_5xx_is_retried_with_backoff_then_delivered(client, workspace, token, platforms):
    DestinationFactory(workspace=workspace, type="meta_capi", config=local("meta_capi", platforms))
    send_batch(client, token, order("retry-1"))
    platforms.behave("meta", mode="error", status=503, count=1)

    run_engine()
    pending = Delivery.objects.for_workspace(workspace).get()
    delivery.destination_deliver(
        destination_id=pending.destination_id, now=pending.next_attempt_at + timedelta(seconds=1)
    )

    pending.refresh_from_db()
    assert pending.status == "delivered"
    assert pending.attempts == 2
    outcomes = list(
        DeliveryAttempt.objects.for_workspace(workspace)
        .order_by("started_at")
        .values_list("outcome", "status_code")
    )
    assert outcomes == [("retry", 503), ("delivered", 200)]


def test_429_honours_retry_after(client, workspace, token, platforms):
    DestinationFactory(workspace=workspace, type="webhook", config=local("webhook", platforms))
    send_batch(client, token, order("slow-down"))
    platforms.behave("webhook", mode="rate_limit", retry_after=120)
    before = timezone.now()

    run_engine()

    waiting = Delivery.objects.for_workspace(workspace).get()
    assert waiting.status == "pending"
    assert waiting.next_attempt_at >= before + timedelta(seconds=119)


def test_a_refusal_is_a_dead_letter_with_the_reason_and_can_be_replayed(
    client, workspace, token, platforms
):
    destination = DestinationFactory(
        workspace=workspace,
        type="meta_capi",
        config=local("meta_capi", platforms),
        secrets={"access_token": "notAmetaTOKENrevoked0123456789"},
    )
    send_batch(client, token, order("dead-1"))

    run_engine()

    dead = Delivery.objects.for_workspace(workspace).get()
    assert dead.status == "dead"
    assert "refused by the platform" in dead.dead_reason
    assert "notAmetaTOKENrevoked0123456789" not in dead.dead_reason + dead.last_error
    deliveries_replay(workspace=workspace, actor=ACTOR, destination=destination)
    dead.refresh_from_db()
    assert (dead.status, dead.attempts) == ("pending", 0)
    assert AuditEntry.objects.filter(workspace=workspace, event_type="delivery.replayed").exists()


def test_attempts_run_out_into_a_dead_letter(client, workspace, token, platforms):
    destination = DestinationFactory(
        workspace=workspace, type="webhook", config=local("webhook", platforms)
    )
    Destination.objects.filter(pk=destination.pk).update(max_attempts=2)
    send_batch(client, token, order("gives-up"))
    platforms.behave("webhook", mode="error", status=500)

    run_engine()
    first = Delivery.objects.for_workspace(workspace).get()
    delivery.destination_deliver(
        destination_id=destination.pk, now=first.next_attempt_at + timedelta(seconds=1)
    )

    first.refresh_from_db()
    assert first.status == "dead"
    assert first.dead_reason.startswith("gave up after 2 attempts")


def test_old_events_are_dead_lettered_before_sending(client, workspace, token, platforms):
    DestinationFactory(workspace=workspace, type="meta_capi", config=local("meta_capi", platforms))
    old = (timezone.now() - timedelta(days=8)).isoformat()
    send_batch(client, token, order("stale", timestamp=old))

    run_engine()

    stale = Delivery.objects.for_workspace(workspace).get()
    assert stale.status == "dead"
    assert "days" in stale.dead_reason
    assert platforms.received("meta") == []


def test_the_circuit_opens_after_repeated_failed_requests(client, workspace, token, platforms):
    destination = DestinationFactory(
        workspace=workspace, type="webhook", config=local("webhook", platforms)
    )
    Destination.objects.filter(pk=destination.pk).update(autopause_min_attempts=1000)
    platforms.behave("webhook", mode="error", status=502)
    send_batch(client, token, *[order(f"c{i}") for i in range(5)])
    delivery.events_fanout()
    Destination.objects.filter(pk=destination.pk).update(
        config={**destination.config, "batch_size": 1}
    )
    now = timezone.now()

    for step in range(6):
        delivery.destination_deliver(destination_id=destination.pk, now=now + timedelta(hours=step))

    destination.refresh_from_db()
    assert destination.consecutive_failures >= delivery.CIRCUIT_THRESHOLD
    assert destination.circuit_open_until is not None


def test_auto_pause_is_audited_and_resume_delivers(client, workspace, token, platforms, admin_user):
    destination = DestinationFactory(
        workspace=workspace, type="webhook", config=local("webhook", platforms)
    )
    Destination.objects.filter(pk=destination.pk).update(
        autopause_min_attempts=3, config={**destination.config, "batch_size": 1}
    )
    platforms.behave("webhook", mode="error", status=500)
    send_batch(client, token, *[order(f"ap{i}") for i in range(4)])
    delivery.events_fanout()
    now = timezone.now()
    for step in range(4):
        delivery.destination_deliver(destination_id=destination.pk, now=now + timedelta(hours=step))
        Destination.objects.filter(pk=destination.pk).update(circuit_open_until=None)

    destination.refresh_from_db()
    assert destination.state == "paused"
    assert destination.paused_automatically
    entry = AuditEntry.objects.filter(workspace=workspace, event_type="destination.paused").get()
    payload = json.loads(bytes(entry.material))["payload"]
    assert payload["automatic"] is True
    assert payload["requests"] >= 3

    platforms.behave("webhook", mode="ok")
    destination_resume(workspace=workspace, actor=admin_user, destination=destination)
    Delivery.objects.for_workspace(workspace).update(next_attempt_at=timezone.now())
    for _ in range(4):
        delivery.destination_deliver(destination_id=destination.pk)
    assert set(Delivery.objects.for_workspace(workspace).values_list("status", flat=True)) == {
        "delivered"
    }


def test_test_send_reports_the_platform_answer(workspace, platforms):
    destination = DestinationFactory(
        workspace=workspace, type="webhook", config=local("webhook", platforms)
    )

    good = delivery.destination_test_send(destination=destination)
    platforms.behave("webhook", mode="error", status=500)
    bad = delivery.destination_test_send(destination=destination)

    assert good["ok"] is True and good["status"] == 200
    assert bad["ok"] is False and bad["status"] == 500


def test_a_failing_destination_is_probed_with_small_batches_until_it_answers(
    client, workspace, token, platforms
):
    """A destination not known to answer — new, or after a failed request — is tried with
    ``PROBE_BATCH`` events at a time (a dead destination then costs a few events' work per
    try, not a batch of 1,000 in every slot); a success brings whole batches back."""
    destination = DestinationFactory(
        workspace=workspace, type="meta_capi", config=local("meta_capi", platforms)
    )
    Destination.objects.filter(pk=destination.pk).update(autopause_min_attempts=1000)
    send_batch(client, token, *[order(f"probe-{i}") for i in range(40)])
    delivery.events_fanout()
    now = timezone.now()

    new = delivery.destination_deliver(destination_id=destination.pk, now=now)
    platforms.behave("meta", mode="error", status=503)
    known = delivery.destination_deliver(destination_id=destination.pk, now=now)
    probe = delivery.destination_deliver(
        destination_id=destination.pk, now=now + timedelta(hours=1)
    )
    platforms.behave("meta", mode="ok")
    answered = delivery.destination_deliver(
        destination_id=destination.pk, now=now + timedelta(hours=2)
    )
    rest = delivery.destination_deliver(destination_id=destination.pk, now=now + timedelta(hours=3))

    assert (new.claimed, new.delivered, new.more) == (delivery.PROBE_BATCH, 10, True)
    assert (known.claimed, known.retried) == (30, 30)  # it answered: a whole batch
    assert (probe.claimed, probe.retried, probe.more) == (delivery.PROBE_BATCH, 10, True)
    assert (answered.claimed, answered.delivered) == (delivery.PROBE_BATCH, 10)
    assert (rest.claimed, rest.delivered, rest.more) == (20, 20, False)
    destination.refresh_from_db()
    assert destination.consecutive_failures == 0
    assert set(Delivery.objects.for_workspace(workspace).values_list("status", flat=True)) == {
        "delivered"
    }


def test_the_next_batch_is_queued_once_the_first_request_succeeded(
    client, workspace, token, platforms
):
    """``on_more``: the scheduler queues the next batch mid-batch (another thread claims and
    builds it while this one records), but only when more is due and the destination
    answered — never for one that fails."""
    destination = DestinationFactory(
        workspace=workspace, type="meta_capi", config=local("meta_capi", platforms)
    )
    Destination.objects.filter(pk=destination.pk).update(
        consecutive_failures=1,
        autopause_min_attempts=1000,  # probing: batches of 10
    )
    send_batch(client, token, *[order(f"more-{i}") for i in range(25)])
    delivery.events_fanout()
    calls: list[str] = []
    now = timezone.now()

    platforms.behave("meta", mode="error", status=500)
    failing = delivery.destination_deliver(
        destination_id=destination.pk, now=now, on_more=calls.append
    )
    assert (failing.more, calls) == (True, [])

    platforms.behave("meta", mode="ok")
    answered = delivery.destination_deliver(
        destination_id=destination.pk, now=now + timedelta(hours=1), on_more=calls.append
    )
    assert answered.more and answered.delivered == delivery.PROBE_BATCH
    assert calls == [answered.region]

    last = delivery.destination_deliver(
        destination_id=destination.pk, now=now + timedelta(hours=2), on_more=calls.append
    )
    assert (last.claimed, last.delivered, last.more) == (15, 15, False)
    assert calls == [answered.region]


def test_the_breaker_lets_ten_requests_through_in_five_minutes():
    # 5 at once, then 5, 10, 20, 40 and 80 s apart; the next (160 s later) falls outside.
    assert delivery.engine.breaker_requests(300) == 10
    assert delivery.engine.breaker_requests(0) == delivery.CIRCUIT_THRESHOLD


def test_a_destination_that_never_answers_is_paused_with_the_default_settings(
    client, workspace, token, platforms
):
    """With the defaults (20 requests in 300 s) and the breaker spacing a dead destination's
    requests, only 10 fit in the window: every one failing is enough to pause it (before,
    such a destination was never paused)."""
    destination = DestinationFactory(
        workspace=workspace, type="webhook", config=local("webhook", platforms)
    )
    Destination.objects.filter(pk=destination.pk).update(
        config={**destination.config, "batch_size": 1}
    )
    destination.refresh_from_db()
    assert destination.autopause_min_attempts == 20
    assert destination.autopause_window_seconds == 300
    platforms.behave("webhook", mode="error", status=503)
    send_batch(client, token, *[order(f"dead{i}") for i in range(30)])
    delivery.events_fanout()
    start = timezone.now()

    for second in range(0, 300, 2):
        delivery.destination_deliver(
            destination_id=destination.pk, now=start + timedelta(seconds=second)
        )

    destination.refresh_from_db()
    assert destination.state == "paused"
    assert destination.paused_automatically
    assert destination.paused_reason.startswith("Paused automatically: 10 of 10 requests failed")
