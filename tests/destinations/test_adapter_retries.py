"""What every adapter makes of a platform that fails for a while: a 5xx is retried and the
next attempt delivers, a 429 is retried after the Retry-After it names, and no answer within
the timeout is retried — each against its local platform server."""

from datetime import UTC, datetime

import pytest

from destinations.adapters import Outcome, adapter_for
from tests.destinations.factories import SECRETS
from tests.destinations.helpers import (
    PLATFORM_OF,
    local,
    outgoing_order,
    post_raw_and_parse,
    sha256_hex,
)

# destination type: what its platform's 5xx and 429 answers say in the outcome's error
ERRORS = {
    "meta_capi": ("An unexpected error has occurred", "User request limit reached"),
    "tiktok_events": ("code 50000", "code 40100"),
    "ga4_mp": ("HTTP 503", "HTTP 429"),
    "webhook": ("HTTP 503", "HTTP 429"),
}
TYPES = pytest.mark.parametrize("destination_type", list(ERRORS))


def build_one(destination_type, platforms):
    """The adapter and its one request carrying two orders of the same visitor."""
    now = datetime.now(UTC)
    orders = [
        outgoing_order(
            delivery_id,
            event_name="Purchase",
            user_data={"em": sha256_hex("john_smith@gmail.com")},
            anonymous_id="anon-1",
            now=now,
        )
        for delivery_id in (1, 2)
    ]
    adapter = adapter_for(destination_type)
    (request,) = adapter.build(
        config=local(destination_type, platforms),
        secrets=SECRETS[destination_type],
        events=orders,
        now=now,
    )
    return adapter, request


@TYPES
def test_a_5xx_is_retried_and_the_next_attempt_delivers(platforms, destination_type):
    platforms.behave(PLATFORM_OF[destination_type], mode="error", status=503, count=1)
    adapter, request = build_one(destination_type, platforms)

    first = post_raw_and_parse(adapter, request)
    second = post_raw_and_parse(adapter, request)

    assert [o.outcome for o in first] == [Outcome.RETRY] * 2
    assert ERRORS[destination_type][0] in first[0].error
    assert [o.outcome for o in second] == [Outcome.DELIVERED] * 2
    assert len(platforms.received(PLATFORM_OF[destination_type])) == 2


@TYPES
def test_a_429_is_retried_after_retry_after(platforms, destination_type):
    platforms.behave(PLATFORM_OF[destination_type], mode="rate_limit", retry_after=7, count=1)
    adapter, request = build_one(destination_type, platforms)

    outcomes = post_raw_and_parse(adapter, request)

    assert [(o.outcome, o.retry_after) for o in outcomes] == [(Outcome.RETRY, 7.0)] * 2
    assert ERRORS[destination_type][1] in outcomes[0].error


@TYPES
def test_no_answer_within_the_timeout_is_retried(platforms, destination_type):
    platforms.behave(PLATFORM_OF[destination_type], mode="timeout", count=1)
    adapter, request = build_one(destination_type, platforms)

    outcomes = post_raw_and_parse(adapter, request, timeout=0.3)

    assert [(o.outcome, o.retry_after) for o in outcomes] == [(Outcome.RETRY, None)] * 2
    assert all(o.error for o in outcomes)
