"""Ingestion's minute figures and rejected events, written with the events they describe."""

from collections import Counter

import orjson
import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone

from destinations.ingestion import runtime
from destinations.ingestion.envelope import Prepared, prepare_event
from destinations.ingestion.store import WriteRequest, events_write
from destinations.metrics import (
    EVENT_KINDS,
    EVENTS_ACCEPTED,
    EVENTS_DUPLICATE,
    EVENTS_RECEIVED,
    EVENTS_REJECTED,
    EVENTS_SUPPRESSED,
    REJECTED_KEPT_PER_MINUTE,
)
from destinations.models import MinuteFigure, RejectedEvent
from privacy.requests.selectors import suppressed_matcher_forget
from privacy.requests.services import dsr_create, dsr_run
from workspaces.models import ApiKeyRole
from workspaces.regions import workspace_db

pytestmark = pytest.mark.django_db

SECRET = "ada.secret@example.com"


@pytest.fixture
def key(workspace, make_api_key):
    return make_api_key(workspace, role=ApiKeyRole.WRITE)


@pytest.fixture(autouse=True)
def _fresh_suppressions():
    suppressed_matcher_forget()
    yield
    suppressed_matcher_forget()


def send(token, *events, status=200):
    answer = Client().post(
        "/v1/batch",
        orjson.dumps({"batch": list(events)}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert answer.status_code == status, answer.content
    return answer.json()


def track(message_id, name="Order Completed", **extra):
    return {
        "type": "track",
        "event": name,
        "anonymousId": "anon-1",
        "messageId": message_id,
        "properties": {"email": SECRET, "value": 3},
        **extra,
    }


def figures(workspace) -> dict[tuple[str, str], int]:
    totals: dict[tuple[str, str], int] = {}
    for row in MinuteFigure.objects.for_workspace(workspace).filter(kind__in=EVENT_KINDS):
        totals[(row.kind, row.subject)] = totals.get((row.kind, row.subject), 0) + row.value
    return totals


def test_a_mixed_batch_is_counted_by_outcome_and_reason(workspace, admin_user, key):
    api_key, token = key
    request = dsr_create(
        workspace=workspace,
        actor=admin_user,
        type="suppress",
        subject={"anonymous_id": "anon-gone"},
        enqueue=False,
    )
    dsr_run(request_id=request.public_id)
    suppressed_matcher_forget()

    answer = send(
        token,
        track("m-1"),
        track("m-2"),
        track("m-3", name="Viewed"),
        track("m-1"),  # a second copy in the batch
        track("m-4", timestamp="yesterday-ish"),
        {"type": "track", "event": "No One", "messageId": "m-5", "properties": {"e": SECRET}},
        track("m-6", anonymousId="anon-gone"),
    )
    assert (answer["accepted"], answer["duplicates"], len(answer["rejected"])) == (4, 1, 2)
    send(token, track("m-2"))  # a duplicate days later, as far as the store knows
    send(token, track("m-7", timestamp="never"), status=400)  # every event refused: still counted

    assert figures(workspace) == {
        (EVENTS_RECEIVED, api_key.public_id): 9,
        (EVENTS_ACCEPTED, "Order Completed"): 2,
        (EVENTS_ACCEPTED, "Viewed"): 1,
        (EVENTS_DUPLICATE, ""): 2,
        (EVENTS_SUPPRESSED, ""): 1,
        (EVENTS_REJECTED, "invalid_timestamp"): 2,
        (EVENTS_REJECTED, "required"): 1,
    }
    kept = list(
        RejectedEvent.objects.for_workspace(workspace)
        .order_by("message_id")
        .values("message_id", "type", "name", "reason", "field", "api_key", "source")
    )
    assert kept == [
        {"message_id": "m-4", "type": "track", "name": "Order Completed",
         "reason": "invalid_timestamp", "field": "timestamp", "api_key": api_key.public_id,
         "source": "segment"},
        {"message_id": "m-5", "type": "track", "name": "No One", "reason": "required",
         "field": "userId", "api_key": api_key.public_id, "source": "segment"},
        {"message_id": "m-7", "type": "track", "name": "Order Completed",
         "reason": "invalid_timestamp", "field": "timestamp", "api_key": api_key.public_id,
         "source": "segment"},
    ]  # fmt: skip
    # Nothing of what the events carried is kept: no property, no identifier.
    for row in RejectedEvent.objects.for_workspace(workspace).values():
        text = orjson.dumps(row, default=str).decode()
        assert SECRET not in text and "anon-1" not in text


def test_a_flood_of_bad_events_is_kept_up_to_the_cap_and_counted_in_full(workspace, key):
    _, token = key
    bad = [track(f"bad-{i}", timestamp="no") for i in range(REJECTED_KEPT_PER_MINUTE + 80)]
    # One request's events share one minute: the cap exactly, every refusal counted.
    send(token, *bad[:-30], status=400)
    rows = RejectedEvent.objects.for_workspace(workspace)
    assert rows.count() == REJECTED_KEPT_PER_MINUTE
    assert figures(workspace)[(EVENTS_REJECTED, "invalid_timestamp")] == len(bad) - 30
    # The next request may fall in the same minute or the next: at most the cap per minute.
    send(token, *bad[-30:], status=400)
    assert figures(workspace)[(EVENTS_REJECTED, "invalid_timestamp")] == len(bad)
    per_minute = Counter(row.received_at.replace(second=0, microsecond=0) for row in rows)
    assert max(per_minute.values()) == REJECTED_KEPT_PER_MINUTE
    assert rows.count() in (REJECTED_KEPT_PER_MINUTE, REJECTED_KEPT_PER_MINUTE + 30)


def test_hostile_names_are_not_kept_and_do_not_fail_the_write(workspace, key):
    _, token = key
    answer = send(
        token,
        {"type": "track", "event": "x\u0000y", "messageId": "m\u0000", "anonymousId": "a"},
        track("ok-1"),
    )
    assert answer["accepted"] == 1 and len(answer["rejected"]) == 1
    row = RejectedEvent.objects.for_workspace(workspace).get()
    assert (row.message_id, row.name) == ("", "")
    # A type the API does not know is whatever was sent: not kept.
    send(token, {"type": SECRET, "messageId": "m-typed", "anonymousId": "a"}, status=400)
    row = RejectedEvent.objects.for_workspace(workspace).get(message_id="m-typed")
    assert row.type == "" and row.reason
    assert figures(workspace)[(EVENTS_ACCEPTED, "Order Completed")] == 1


def _prepared(workspace, message_id: str, name: str) -> Prepared:
    prepared = prepare_event(
        {"type": "track", "event": name, "userId": "u", "messageId": message_id},
        index=0,
        kind=None,
        received_at=timezone.now(),
        config=runtime.workspace_runtime(workspace=workspace).config,
        size=100,
    )
    assert isinstance(prepared, Prepared)
    return prepared


def test_one_group_commit_counts_each_request_for_its_own_workspace(workspace, other_workspace):
    """Several requests, of two workspaces, in one commit: one figures statement, each
    request's figures where they belong (a copy in a later request is its duplicate)."""
    at = timezone.now()

    def request(ws, *events):
        return WriteRequest(
            workspace=ws,
            workspace_id=ws.pk,
            api_key_id=None,
            source="native",
            received_at=at,
            events=list(events),
            statuses=["ok"] * len(events),
            received=len(events),
            api_key_public_id=f"key_{ws.slug}",
        )

    again, paid = _prepared(workspace, "a-1", "Signed Up"), _prepared(workspace, "a-2", "Paid")
    requests = [
        request(workspace, _prepared(workspace, "a-1", "Signed Up")),
        request(other_workspace, _prepared(other_workspace, "a-1", "Paid")),
        request(workspace, again, paid),
    ]
    database = workspace_db(workspace)
    assert workspace_db(other_workspace) == database
    with transaction.atomic(using=database):
        events_write(requests, using=database)

    assert figures(workspace) == {
        (EVENTS_RECEIVED, f"key_{workspace.slug}"): 3,
        (EVENTS_ACCEPTED, "Signed Up"): 1,
        (EVENTS_ACCEPTED, "Paid"): 1,
        (EVENTS_DUPLICATE, ""): 1,
    }
    assert figures(other_workspace) == {
        (EVENTS_RECEIVED, f"key_{other_workspace.slug}"): 1,
        (EVENTS_ACCEPTED, "Paid"): 1,
    }
