"""The events debugger beyond the latest 50: keyset paging older and newer, a time range,
search by messageId, userId (hashed as ingestion hashes it, never in a URL), event name and
delivery state — and the events refused at ingestion, with their reasons and no values."""

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from django.urls import reverse

from destinations.ingestion import selectors
from destinations.models import RejectedEvent
from privacy import pii
from tests.destinations.factories import DeliveryFactory, DestinationFactory
from tests.destinations.helpers import order, send_batch
from tests.factories import EventFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)


def event_at(workspace, seconds: float, **fields):
    received = T0 + timedelta(seconds=seconds)
    return EventFactory(workspace=workspace, received_at=received, timestamp=received, **fields)


def page(client, workspace, **query):
    return client.get(reverse("destinations:events", args=[workspace.slug]), query)


def page_htmx(client, workspace, **query):
    return client.get(
        reverse("destinations:events", args=[workspace.slug]), query, HTTP_HX_REQUEST="true"
    )


def shown(response) -> list[str]:
    return [event.message_id for event in response.context["events"]]


def test_paging_walks_older_and_back_newer_over_ties(client, workspace, viewer_user):
    # 120 events, pairs received in the same instant (the hidden id breaks ties)
    events = [event_at(workspace, i // 2, message_id=f"m-{i:03d}") for i in range(120)]
    newest_first = [e.message_id for e in sorted(events, key=lambda e: (e.received_at, e.pk))][::-1]
    client.force_login(viewer_user)

    first = page(client, workspace)
    second = page(client, workspace, before=shown(first)[-1])
    third = page(client, workspace, before=shown(second)[-1])
    back = page(client, workspace, after=shown(third)[0])

    assert shown(first) == newest_first[:50]
    assert shown(second) == newest_first[50:100]
    assert shown(third) == newest_first[100:]
    assert shown(back) == shown(second)
    assert first.context["older_query"] == f"before={newest_first[49]}"
    assert first.context["newer_query"] == ""
    assert third.context["older_query"] == ""
    html = second.content.decode()
    # an older page stands still: no polling, and a way back to the live table
    assert 'hx-trigger="every 2s"' not in html
    assert 'data-testid="latest"' in html and 'data-testid="newer"' in html
    assert f"={events[0].pk}&" not in html and f'={events[0].pk}"' not in html


def test_search_by_message_id_name_and_time_range(client, workspace, other_workspace, viewer_user):
    event_at(workspace, 10, message_id="a", name="Order Completed")
    event_at(workspace, 70, message_id="b", name="Order Refunded")
    event_at(workspace, 130, message_id="c", name="Signed Up")
    event_at(other_workspace, 70, message_id="b-foreign", name="Order Completed")
    client.force_login(viewer_user)

    assert shown(page(client, workspace, message_id="b")) == ["b"]
    assert shown(page(client, workspace, message_id="b-foreign")) == []
    assert shown(page(client, workspace, message_id="x" * 5000)) == []
    assert shown(page(client, workspace, name="order")) == ["b", "a"]
    ranged = page(client, workspace, **{"from": "2026-11-20T10:01:00", "until": "2026-11-20T10:02"})
    assert shown(ranged) == ["b"]
    assert 'hx-trigger="every 2s"' not in ranged.content.decode()  # a closed range: not live
    offset = page(client, workspace, **{"from": "2026-11-20T11:00:30+01:00"})
    assert shown(offset) == ["c", "b"]
    assert "every 2s" in offset.content.decode()


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "yesterday"}, "from"),
        ({"until": "2026-13-45T99:00"}, "until"),
        ({"from": "2026-11-20T10:02", "until": "2026-11-20T10:01"}, "until"),
        ({"from": "9" * 5000}, "from"),
    ],
)
def test_an_unreadable_time_range_is_a_422_on_its_field(
    client, workspace, viewer_user, query, field
):
    event_at(workspace, 1, message_id="m-1")
    client.force_login(viewer_user)

    response = page(client, workspace, **query)
    table = client.get(reverse("destinations:events-table", args=[workspace.slug]), query)

    assert response.status_code == 422
    assert f'data-field="{field}"' in response.content.decode()
    partial = page_htmx(client, workspace, **query)
    assert partial.status_code == 422  # swapped by htmx: the error shows above the table
    assert f'data-error-for="{field}"' in partial.content.decode()
    assert 'data-message-id="m-1"' not in response.content.decode()
    assert table.status_code == 400


def test_delivery_state_filters(client, workspace, viewer_user):
    hook = DestinationFactory(workspace=workspace)
    states = {
        "delivered": {"status": "delivered"},
        "pending": {"status": "pending"},
        "retrying": {"status": "pending", "last_error": "HTTP 503"},
        "blocked": {"status": "blocked"},
        "dead": {"status": "dead", "dead_reason": "gave up"},
    }
    for index, (message_id, fields) in enumerate(states.items()):
        DeliveryFactory(
            destination=hook, event=event_at(workspace, index, message_id=message_id), **fields
        )
    event_at(workspace, 10, message_id="no-delivery")
    client.force_login(viewer_user)

    def ids(delivery):
        return sorted(shown(page(client, workspace, delivery=delivery)))

    assert ids("delivered") == ["delivered"]
    assert ids("pending") == ["pending", "retrying"]
    assert ids("failed") == ["dead", "retrying"]
    assert ids("blocked") == ["blocked"]
    assert ids("dead") == ["dead"]
    assert len(ids("bogus")) == 6  # unknown: ignored, as the other filters


def test_search_by_user_id_hashes_it_as_ingestion_does_and_keeps_it_out_of_urls(
    client, workspace, token, signed_in
):
    send_batch(client, token, order("by-ada", userId="ada-1977"), order("by-bob", userId="bob-42"))
    user_url = reverse("destinations:events-user", args=[workspace.slug])

    found = signed_in.post(user_url, {"user_id": "  ada-1977 ", "type": "track"})
    listing = signed_in.get(found["Location"])

    assert found.status_code == 302
    assert "ada-1977" not in found["Location"]
    assert pii.hashed("external_id", "ada-1977") not in found["Location"]
    assert "user=1" in found["Location"] and "type=track" in found["Location"]
    assert shown(listing) == ["by-ada"]
    html = listing.content.decode()
    assert "ada-1977" not in html
    assert pii.hashed("external_id", "ada-1977") not in html
    assert 'data-testid="user-filter"' in html
    session = orjson.dumps(dict(signed_in.session)).decode()
    assert "ada-1977" not in session  # only its hash is kept
    # cleared with an empty search
    cleared = signed_in.post(user_url, {"user_id": ""})
    assert sorted(shown(signed_in.get(cleared["Location"]))) == ["by-ada", "by-bob"]


def test_the_user_search_refuses_what_cannot_be_a_user_id(signed_in, workspace):
    response = signed_in.post(
        reverse("destinations:events-user", args=[workspace.slug]), {"user_id": "u" * 1001}
    )

    assert response.status_code == 422
    assert 'data-field="user_id"' in response.content.decode()
    assert "u" * 1001 not in response.content.decode()


def test_a_refused_user_search_keeps_the_other_filters(signed_in, workspace):
    carried = {"name": "Order", "delivery": "dead", "from": "2026-11-20T10:00"}

    response = signed_in.post(
        reverse("destinations:events-user", args=[workspace.slug]),
        {**carried, "user_id": "u" * 1001},
    )

    assert response.status_code == 422
    assert response.context["carry"] == list(carried.items())
    assert response.context["range"]["from"] == carried["from"]
    assert response.context["filters"]["delivery"] == "dead"


def test_the_search_pages_are_the_workspaces_own(client, workspace, other_admin_user):
    client.force_login(other_admin_user)

    for name, method in (("events-user", "post"), ("events-rejected", "get")):
        response = getattr(client, method)(reverse(f"destinations:{name}", args=[workspace.slug]))
        assert response.status_code == 404


def test_rejected_events_show_reasons_without_values_and_page(
    client, workspace, other_workspace, token, viewer_user, make_api_key
):
    secret_value = "ada@example.test"
    refused = client.post(
        "/v1/batch",
        orjson.dumps(
            {
                "batch": [
                    order("fine"),
                    {
                        "type": "track",
                        "event": "No Ids",
                        "messageId": "no-ids",
                        "properties": {"email": secret_value},
                    },
                    {
                        "type": "track",
                        "event": "Bad Time",
                        "userId": "u",
                        "messageId": "bad-time",
                        "timestamp": "not a time",
                    },
                ]
            }
        ),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert refused.status_code in (200, 400)
    other_token = make_api_key(other_workspace)[1]
    client.post(
        "/v1/batch",
        orjson.dumps({"batch": [{"type": "track", "event": "X", "messageId": "foreign-bad"}]}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {other_token}",
    )
    client.force_login(viewer_user)

    response = client.get(reverse("destinations:events-rejected", args=[workspace.slug]))

    assert response.status_code == 200
    html = response.content.decode()
    assert "no-ids" in html and "bad-time" in html
    assert "foreign-bad" not in html
    assert "fine</code>" not in html
    assert secret_value not in html and "not a time" not in html
    assert {row.message_id for row in response.context["rejected"]} == {"bad-time", "no-ids"}


def test_rejected_paging_keeps_rows_of_the_same_instant(workspace):
    for i in range(5):
        RejectedEvent.objects.for_workspace(workspace).create(
            workspace=workspace, received_at=T0, message_id=f"r-{i}", reason="invalid_type"
        )
    RejectedEvent.objects.for_workspace(workspace).create(
        workspace=workspace, received_at=T0 - timedelta(seconds=1), message_id="r-old", reason="x"
    )

    first = selectors.rejected_recent(workspace=workspace, limit=3)
    rest = selectors.rejected_recent(workspace=workspace, before=(T0, 3), limit=10)

    assert len({r.message_id for r in first + rest}) == 6
    assert rest[-1].message_id == "r-old"


def test_the_rejected_tab_refuses_a_bad_range_or_cursor(client, workspace, viewer_user):
    client.force_login(viewer_user)
    rejected = reverse("destinations:events-rejected", args=[workspace.slug])

    bad_time = client.get(rejected, {"from": "soon"})
    bad_cursor = client.get(rejected, {"before": "2026-11-20T10:00:00+00:00~x"})

    assert bad_time.status_code == 422
    assert 'data-field="from"' in bad_time.content.decode()
    assert bad_cursor.status_code == 400


def test_the_overviews_rejected_links_land_on_the_rejected_tab_by_reason(
    client, workspace, viewer_user
):
    for reason, message_id in (("invalid_timestamp", "t-1"), ("missing_identity", "i-1")):
        RejectedEvent.objects.for_workspace(workspace).create(
            workspace=workspace, received_at=T0, message_id=message_id, reason=reason
        )
    client.force_login(viewer_user)

    moved = page(client, workspace, status="rejected", reason="invalid_timestamp")
    listed = client.get(moved["Location"])

    assert moved.status_code == 302
    assert moved["Location"].endswith("/events-rejected/?reason=invalid_timestamp")
    assert [row.message_id for row in listed.context["rejected"]] == ["t-1"]
