"""The events debugger: what a member of the workspace sees of its latest events — and what
nobody sees (another workspace's events, hash values)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from destinations.ingestion import selectors
from tests.destinations.helpers import sha256_hex
from tests.factories import EventFactory
from tests.privacy.tcf_encoder import encode
from tracklayer.exceptions import NotFoundError

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)


def event_at(workspace, seconds: float, **fields):
    received = T0 + timedelta(seconds=seconds)
    return EventFactory(workspace=workspace, received_at=received, timestamp=received, **fields)


def message_ids(events) -> list[str]:
    return [event.message_id for event in events]


# --- Selectors -----------------------------------------------------------------------------


def test_recent_events_are_newest_first_and_only_the_workspaces_own(workspace, other_workspace):
    older = event_at(workspace, 1, message_id="a-older")
    newer = event_at(workspace, 2, message_id="a-newer")
    event_at(other_workspace, 3, message_id="b-foreign")

    events = selectors.events_recent(workspace=workspace)

    assert message_ids(events) == [newer.message_id, older.message_id]


def test_events_received_in_the_same_instant_keep_their_arrival_order(workspace):
    first = event_at(workspace, 1, message_id="first")
    second = event_at(workspace, 1, message_id="second")

    assert message_ids(selectors.events_recent(workspace=workspace)) == [
        second.message_id,
        first.message_id,
    ]


def test_filters_by_type_status_and_name_prefix(workspace):
    event_at(workspace, 1, message_id="t1", type="track", name="Order Completed")
    event_at(workspace, 2, message_id="t2", type="track", name="order_completed", status="flagged")
    event_at(workspace, 3, message_id="t3", type="track", name="Product Viewed")
    event_at(workspace, 4, message_id="i1", type="identify", name="")
    event_at(workspace, 5, message_id="p1", type="page", name="Checkout Order")

    def ids(**filters):
        return message_ids(selectors.events_recent(workspace=workspace, **filters))

    assert ids(type="identify") == ["i1"]
    assert ids(status="flagged") == ["t2"]
    # a case-insensitive prefix: spelling variants show side by side; no match mid-name
    assert ids(name="order") == ["t2", "t1"]
    assert ids(name="Order Completed") == ["t1"]
    assert ids(name="order", status="ok") == ["t1"]
    assert ids(name="Completed") == []
    # LIKE wildcards in the filter are taken literally
    assert ids(name="%") == []
    assert ids(name="_rder") == []


def test_since_id_returns_only_what_came_after_that_event(workspace, other_workspace):
    event_at(workspace, 1, message_id="one")
    event_at(workspace, 2, message_id="two")
    event_at(workspace, 3, message_id="three")
    event_at(other_workspace, 2, message_id="foreign")

    assert message_ids(selectors.events_recent(workspace=workspace, since_id="two")) == ["three"]
    assert message_ids(selectors.events_recent(workspace=workspace, since_id="three")) == []
    # unknown here (purged, or another workspace's): ignored, so nothing is missed
    assert len(selectors.events_recent(workspace=workspace, since_id="foreign")) == 3
    assert len(selectors.events_recent(workspace=workspace, since_id="never")) == 3


def test_the_limit_is_respected_and_capped(workspace):
    for second in range(5):
        event_at(workspace, second)

    assert len(selectors.events_recent(workspace=workspace, limit=2)) == 2
    assert len(selectors.events_recent(workspace=workspace, limit=10_000)) == 5


def test_event_get_is_scoped_to_the_workspace(workspace, other_workspace):
    own = event_at(workspace, 1, message_id="own")
    event_at(other_workspace, 1, message_id="theirs")

    assert selectors.event_get(workspace=workspace, message_id="own") == own
    with pytest.raises(NotFoundError):
        selectors.event_get(workspace=workspace, message_id="theirs")
    with pytest.raises(NotFoundError):
        selectors.event_get(workspace=workspace, message_id="missing")


def test_event_get_returns_the_newest_of_a_reused_message_id(workspace):
    # After the de-duplication window a client may send a messageId again.
    event_at(workspace, 1, message_id="reused", name="First")
    event_at(workspace, 100, message_id="reused", name="Second")

    assert selectors.event_get(workspace=workspace, message_id="reused").name == "Second"


def test_event_names_are_distinct_most_recent_first_and_scoped(workspace, other_workspace):
    event_at(workspace, 1, name="Product Viewed")
    event_at(workspace, 2, name="Order Completed")
    event_at(workspace, 3, name="Product Viewed")
    event_at(workspace, 4, type="identify", name="")
    event_at(other_workspace, 5, name="Secret Event")

    assert selectors.event_names_recent(workspace=workspace) == [
        "Product Viewed",
        "Order Completed",
    ]
    assert selectors.event_names_recent(workspace=workspace, limit=1) == ["Product Viewed"]


# --- The page and its polled table ---------------------------------------------------------


def test_a_viewer_sees_the_latest_events_with_validation_hashing_and_consent(
    client, workspace, viewer_user
):
    event_at(
        workspace,
        1,
        message_id="m-flagged",
        name="Order Completed",
        status="flagged",
        validation={
            "hashed": ["traits.email", "traits.phone"],
            "removed": ["context.ip"],
            "warnings": [{"field": "timestamp", "code": "future", "message": "In the future."}],
            "violations": [{"path": "properties.total", "code": "type", "message": "Not a number"}],
        },
        consent={"tcf_string": "x", "gpc": True, "consent_mode": {"ad_storage": False}},
        fanout_pending=True,
    )
    client.force_login(viewer_user)

    response = client.get(reverse("destinations:events", args=[workspace.slug]))

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-message-id="m-flagged"' in html
    assert "Order Completed" in html
    assert "flagged" in html and "1 warning" in html
    assert "<code>traits.email</code>" in html and "<code>traits.phone</code>" in html
    assert ">TCF<" in html and ">GPC<" in html and "CM 1 denied" in html
    assert "pending" in html
    assert 'hx-trigger="every 2s"' in html
    assert '<option value="Order Completed">' in html  # the name filter's suggestions
    assert f'href="{reverse("destinations:events", args=[workspace.slug])}" aria-current' in html


def test_filters_come_from_the_url_so_a_filtered_view_can_be_shared(client, workspace, viewer_user):
    event_at(workspace, 1, message_id="m-track", type="track")
    event_at(workspace, 2, message_id="m-identify", type="identify", name="")
    client.force_login(viewer_user)

    response = client.get(
        reverse("destinations:events", args=[workspace.slug]), {"type": "identify"}
    )

    html = response.content.decode()
    assert 'data-message-id="m-identify"' in html
    assert 'data-message-id="m-track"' not in html
    assert '<option value="identify" selected>' in html
    # the table polls for what it shows: the same filter, and the row on top
    assert "events-table/?type=identify&amp;since=m-identify" in html


def test_an_unknown_filter_value_is_ignored(client, workspace, viewer_user):
    event_at(workspace, 1, message_id="m-1")
    client.force_login(viewer_user)

    response = client.get(
        reverse("destinations:events", args=[workspace.slug]), {"type": "bogus", "status": "x"}
    )

    assert response.status_code == 200
    assert 'data-message-id="m-1"' in response.content.decode()


def test_htmx_filtering_returns_only_the_table(client, workspace, viewer_user):
    event_at(workspace, 1, message_id="m-1", name="Signed Up")
    client.force_login(viewer_user)

    response = client.get(
        reverse("destinations:events", args=[workspace.slug]),
        {"name": "sign"},
        headers={"HX-Request": "true"},
    )

    html = response.content.decode()
    assert html.lstrip().startswith('<section id="events-table"')
    assert "<html" not in html
    assert 'data-message-id="m-1"' in html


def test_the_polled_table_marks_what_arrived_since_the_last_poll(client, workspace, viewer_user):
    event_at(workspace, 1, message_id="m-old")
    event_at(workspace, 2, message_id="m-seen")
    event_at(workspace, 3, message_id="m-new")
    client.force_login(viewer_user)

    response = client.get(
        reverse("destinations:events-table", args=[workspace.slug]),
        {"since": "m-seen"},
        headers={"HX-Request": "true"},
    )

    html = response.content.decode()
    assert "<html" not in html
    assert 'data-message-id="m-new" data-type="track" data-status="ok" class="event-new"' in html
    assert html.count("event-new") == 1
    assert "events-table/?since=m-new" in html  # the next poll starts from the new top row


def test_the_table_never_shows_internal_ids(client, workspace, viewer_user):
    event = event_at(workspace, 1, message_id="m-1")
    client.force_login(viewer_user)

    html = client.get(reverse("destinations:events", args=[workspace.slug])).content.decode()

    assert f"since={event.pk}" not in html and f'data-id="{event.pk}"' not in html


def test_the_pages_take_no_post(client, workspace, viewer_user):
    event_at(workspace, 1, message_id="m-1")
    client.force_login(viewer_user)

    for url in (
        reverse("destinations:events", args=[workspace.slug]),
        reverse("destinations:events-table", args=[workspace.slug]),
        reverse("destinations:event-detail", args=[workspace.slug, "m-1"]),
    ):
        assert client.post(url).status_code == 405


# --- The detail drawer ---------------------------------------------------------------------

TC_STRING = encode(
    created=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
    cmp_id=28,
    cmp_version=3,
    consent_language="DE",
    publisher_cc="DE",
    vendor_list_version=140,
    purpose_consents=[1, 7],
    vendor_consents=[755],
)
EMAIL_HASH = sha256_hex("ada@example.test")
PHONE_HASH = sha256_hex("+4915112345678")
USER_HASH = sha256_hex("user-42")


@pytest.fixture
def detailed_event(workspace):
    received = T0 + timedelta(seconds=10)
    return EventFactory(
        workspace=workspace,
        message_id="m-detail",
        type="identify",
        name="",
        anonymous_id="anon-7",
        user_id_hash=USER_HASH,
        received_at=received,
        sent_at=received + timedelta(seconds=3),  # the device clock runs 3 s ahead
        original_timestamp=received + timedelta(seconds=1),
        timestamp=received - timedelta(seconds=2),
        traits={"plan": "pro"},
        context={"page": {"path": "/checkout"}},
        identifiers={
            "meta": {"em": EMAIL_HASH, "ph": PHONE_HASH, "external_id": USER_HASH},
            "tiktok": {"email": EMAIL_HASH},
        },
        validation={
            "hashed": ["traits.email", "traits.phone", "userId"],
            "removed": ["context.ip", "context.userAgent"],
            "warnings": [{"field": "consent", "code": "tcf_invalid:truncated", "message": "x"}],
            "violations": [
                {"path": "traits.plan", "code": "enum", "message": "Not one of free, team"}
            ],
        },
        consent={
            "tcf_string": TC_STRING,
            "consent_mode": {"ad_storage": True, "ad_user_data": False},
            "gpc": True,
            "us_privacy": "1YYN",
            "categories": {"analytics": True, "advertising": False},
            "country": "DE",
            "region": None,
            "errors": ["consent_mode_invalid:gcs"],
        },
        status="flagged",
        fanout_pending=True,
    )


def test_the_detail_shows_field_names_and_signals_but_no_hash_values(
    client, workspace, viewer_user, detailed_event
):
    client.force_login(viewer_user)

    response = client.get(
        reverse("destinations:event-detail", args=[workspace.slug, detailed_event.message_id]),
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html  # the drawer's content only
    # what was hashed and removed: names
    for path in ("traits.email", "traits.phone", "userId", "context.ip", "context.userAgent"):
        assert f"<code>{path}</code>" in html
    assert "<strong>meta</strong>: em, external_id, ph" in html
    assert "(3 fields)" in html and "<strong>tiktok</strong>: email" in html
    # …and never a hash value, not even in part
    for value in (EMAIL_HASH, PHONE_HASH, USER_HASH):
        assert value not in html
        assert value[:12] not in html
    assert "userId</dt><dd>present" in html
    # consent signals, the TC string decoded but not printed
    assert "TC string present" in html and TC_STRING not in html
    assert "CMP id 28, version 3" in html
    assert 'data-purpose="7"><td>7. Measure advertising performance</td>\n' in html
    assert "ad_storage: granted" in html and "ad_user_data: denied" in html
    assert "on — opt-out of sale and sharing" in html
    assert "<code>1YYN</code> — opted out of sale" in html
    assert "advertising: refused" in html and "analytics: granted" in html
    assert "<code>consent_mode_invalid:gcs</code>" in html
    assert "Vendors with consent: 1" in html
    # validation, timing, fan-out, payload
    assert "Not one of free, team" in html and "tcf_invalid:truncated" in html
    assert "−3 s" in html and "the device clock was ahead" in html
    assert "fan-out: pending" in html
    assert "&quot;plan&quot;: &quot;pro&quot;" in html
    assert "anon-7" in html


def test_the_detail_is_also_a_page_of_its_own(client, workspace, viewer_user, detailed_event):
    client.force_login(viewer_user)

    response = client.get(
        reverse("destinations:event-detail", args=[workspace.slug, detailed_event.message_id])
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html and 'data-testid="event-detail"' in html
    assert "data-drawer-close" not in html
    assert EMAIL_HASH not in html and USER_HASH not in html


def test_a_message_id_with_a_slash_is_reachable(client, workspace, viewer_user):
    event_at(workspace, 1, message_id="shop/checkout?1")
    client.force_login(viewer_user)

    table = client.get(reverse("destinations:events", args=[workspace.slug]))
    detail = client.get(
        reverse("destinations:event-detail", args=[workspace.slug, "shop/checkout?1"])
    )

    assert table.status_code == 200
    assert detail.status_code == 200
    assert 'data-message-id="shop/checkout?1"' in detail.content.decode()


def test_another_workspaces_event_is_not_found(client, workspace, viewer_user, other_workspace):
    foreign = event_at(other_workspace, 1, message_id="m-foreign", name="Their Secret")
    client.force_login(viewer_user)

    response = client.get(
        reverse("destinations:event-detail", args=[workspace.slug, foreign.message_id])
    )

    assert response.status_code == 404
    assert "Their Secret" not in response.content.decode()
    assert "m-foreign" not in response.content.decode()


def test_an_event_without_signals_or_clock_data_reads_plainly(client, workspace, viewer_user):
    event = event_at(workspace, 1, message_id="m-plain", consent={}, validation={})
    client.force_login(viewer_user)

    html = client.get(
        reverse("destinations:event-detail", args=[workspace.slug, event.message_id])
    ).content.decode()

    assert "No warnings" in html
    assert "without sentAt there is nothing to correct with" in html
    assert 'data-testid="tcf"><span class="muted">none</span>' in html
