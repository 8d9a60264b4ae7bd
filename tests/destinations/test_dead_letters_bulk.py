"""Dead letters: grouped by reason with counts, paged, and replayed or discarded in bulk —
the ticked ones or all that match, in batches, audited once with counts and filters (no
identifiers), never another workspace's, never by a viewer."""

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.services import audit_advisory_lock_enable
from destinations.models import Delivery, DeliveryAttempt
from destinations.routing import selectors, services
from tests.audit_entries import audit_entries
from tests.destinations.factories import DeliveryAttemptFactory, DeliveryFactory, DestinationFactory
from tests.destinations.helpers import url
from tracklayer.exceptions import DomainError

pytestmark = pytest.mark.django_db

GAVE_UP = "gave up after {} attempts: HTTP 500"
TOO_OLD = "too_old: GA4 takes events up to 72 hours old and would record this one ({} hours old)"


def dead(destination, reason: str, *, minutes_ago: float = 0, **fields) -> Delivery:
    return DeliveryFactory(
        destination=destination,
        status="dead",
        dead_reason=reason,
        created_at=timezone.now() - timedelta(minutes=minutes_ago),
        **fields,
    )


def statuses(workspace) -> dict[int, str]:
    return dict(Delivery.objects.for_workspace(workspace).values_list("pk", "status"))


def entries(workspace, kind: str) -> list[dict]:
    return audit_entries(workspace, f"dead_letters.{kind}")


@pytest.fixture
def mixed(workspace, other_workspace):
    """Two destinations' dead letters of three reason groups, and another workspace's."""
    hook = DestinationFactory(workspace=workspace, name="Hook")
    ga4 = DestinationFactory(workspace=workspace, name="GA4", type="ga4_mp")
    rows = {
        "gave_up": [
            dead(hook, GAVE_UP.format(3), minutes_ago=1),
            dead(hook, GAVE_UP.format(10), minutes_ago=2),
            dead(ga4, GAVE_UP.format(3), minutes_ago=3),
        ],
        "too_old": [dead(ga4, TOO_OLD.format("80.5"), minutes_ago=4)],
        "none": [dead(hook, "", minutes_ago=5)],
    }
    foreign = dead(DestinationFactory(workspace=other_workspace), GAVE_UP.format(3))
    return {"hook": hook, "ga4": ga4, "rows": rows, "foreign": foreign}


def test_dead_letters_are_grouped_by_reason_with_numbers_as_hash(workspace, mixed):
    groups = selectors.dead_letter_groups(workspace=workspace)

    assert [(g.reason, g.count) for g in groups] == [
        ("gave up after # attempts: HTTP 500", 3),
        ("(no reason recorded)", 1),
        ("too_old: GA4 takes events up to # hours old and would record this one (# hours old)", 1),
    ]
    only_hook = selectors.dead_letter_groups(workspace=workspace, destination=mixed["hook"])
    assert [(g.reason, g.count) for g in only_hook] == [
        ("gave up after # attempts: HTTP 500", 2),
        ("(no reason recorded)", 1),
    ]


def test_the_page_shows_groups_and_filters_by_reason(signed_in, workspace, mixed):
    page = signed_in.get(url("dead-letters", workspace))
    one = signed_in.get(
        url("dead-letters", workspace),
        {"reason": "gave up after # attempts: HTTP 500", "destination": mixed["hook"].public_id},
        HTTP_HX_REQUEST="true",
    )
    unknown = signed_in.get(url("dead-letters", workspace), {"reason": "x" * 5000, "before": "-1"})

    html = page.content.decode()
    assert 'data-reason="gave up after # attempts: HTTP 500"' in html
    assert 'data-testid="group-count">3<' in html
    assert "Replay all 5 matching" in html
    partial = one.content.decode()
    assert partial.lstrip().startswith('<div id="dead-letters"')  # the htmx partial
    assert partial.count('data-testid="select-one"') == 2
    assert "Replay all 2 matching" in partial
    assert f'data-delivery="{mixed["foreign"].pk}"' not in html
    assert unknown.status_code == 200  # an unknown reason matches nothing; a bad anchor is ignored
    assert "0 dead letters match" in unknown.content.decode()


def test_paging_walks_older_and_back_newer_without_gaps(signed_in, workspace):
    hook = DestinationFactory(workspace=workspace)
    now = timezone.now()
    # 120 dead letters, pairs created in the same instant (the id breaks ties)
    rows = [
        DeliveryFactory(
            destination=hook,
            status="dead",
            dead_reason="x",
            created_at=now - timedelta(seconds=i // 2),
        )
        for i in range(120)
    ]
    expected = sorted(rows, key=lambda d: (d.created_at, d.pk), reverse=True)

    def page_ids(**query):
        response = signed_in.get(url("dead-letters", workspace), query)
        assert response.status_code == 200
        context = response.context
        return [d.pk for d in context["deliveries"]], context["older_query"], context["newer_query"]

    first, older, newer = page_ids()
    assert first == [d.pk for d in expected[:50]] and newer == ""
    second, older2, newer2 = page_ids(before=first[-1])
    assert older2.endswith(f"before={second[-1]}")
    assert second == [d.pk for d in expected[50:100]]
    third, older3, _ = page_ids(before=second[-1])
    assert third == [d.pk for d in expected[100:]] and older3 == ""
    back, _, _ = page_ids(after=third[0])
    assert back == second
    assert older.endswith(f"before={first[-1]}") and newer2.endswith(f"after={second[0]}")


def test_replay_all_matching_runs_in_batches_and_is_audited_once(
    signed_in, workspace, other_workspace, mixed, monkeypatch
):
    monkeypatch.setattr(services, "BULK_BATCH", 2)
    for i in range(4):
        dead(mixed["hook"], GAVE_UP.format(i + 2), minutes_ago=10 + i)
    before = statuses(workspace)

    response = signed_in.post(
        url("dead-letters-bulk", workspace),
        {"action": "replay", "scope": "matching", "reason": "gave up after # attempts: HTTP 500"},
        follow=True,
    )

    assert "7 dead letters queued again." in response.content.decode()
    after = statuses(workspace)
    replayed = {pk for pk, status in after.items() if before[pk] == "dead" and status == "pending"}
    assert len(replayed) == 7
    assert after[mixed["rows"]["too_old"][0].pk] == "dead"
    assert after[mixed["rows"]["none"][0].pk] == "dead"
    assert statuses(other_workspace)[mixed["foreign"].pk] == "dead"
    [entry] = entries(workspace, "replayed")
    assert entry["payload"]["count"] == 7
    assert entry["payload"]["batches"] == 4
    assert entry["payload"]["selection"] == "matching"
    assert entry["payload"]["filters"] == {
        "destination": None,
        "reason": "gave up after # attempts: HTTP 500",
    }
    assert entry["payload"]["reasons"] == {"gave up after # attempts: HTTP 500": 7}
    assert entry["payload"]["destinations"] == {
        mixed["hook"].public_id: 6,
        mixed["ga4"].public_id: 1,
    }
    # counts and filters only: no delivery or event id
    assert set(entry["payload"]) == {
        "count",
        "selection",
        "filters",
        "reasons",
        "destinations",
        "batches",
    }
    assert not entries(other_workspace, "replayed")


def test_discard_selected_needs_confirmation_then_deletes_with_attempts(
    signed_in, workspace, other_workspace, mixed
):
    target, keep = mixed["rows"]["gave_up"][:2]
    DeliveryAttemptFactory(delivery=target, outcome="failed", status_code=500)
    foreign = mixed["foreign"]
    form = {"action": "discard", "scope": "selected", "ids": [target.pk, foreign.pk]}

    unconfirmed = signed_in.post(url("dead-letters-bulk", workspace), form)
    done = signed_in.post(
        url("dead-letters-bulk", workspace), {**form, "confirm": "1"}, follow=True
    )

    assert unconfirmed.status_code == 422
    assert 'data-field="confirm"' in unconfirmed.content.decode()
    assert "1 dead letter discarded." in done.content.decode()
    assert target.pk not in statuses(workspace)
    assert statuses(workspace)[keep.pk] == "dead"
    assert not DeliveryAttempt.objects.for_workspace(workspace).filter(delivery_id=target.pk)
    assert statuses(other_workspace)[foreign.pk] == "dead"  # another workspace's id: untouched
    [entry] = entries(workspace, "discarded")
    assert (entry["payload"]["count"], entry["payload"]["selection"]) == (1, "selected")
    assert entry["payload"]["destinations"] == {mixed["hook"].public_id: 1}


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"action": "explode", "scope": "matching"}, "action"),
        ({"action": "replay", "scope": "selected", "ids": ["12a"]}, "ids"),
        ({"action": "replay", "scope": "selected"}, "ids"),
        ({"action": "replay", "scope": "selected", "ids": [str(i) for i in range(501)]}, "ids"),
        ({"action": "replay", "scope": "matching", "destination": "dst_nope"}, "destination"),
    ],
)
def test_bad_bulk_input_is_refused_on_its_field(signed_in, workspace, mixed, form, field):
    before = statuses(workspace)

    response = signed_in.post(url("dead-letters-bulk", workspace), form)

    assert response.status_code == 422
    assert f'data-field="{field}"' in response.content.decode()
    assert statuses(workspace) == before
    assert not entries(workspace, "replayed")


def test_a_viewer_sees_the_list_but_cannot_act(client, workspace, viewer_user, mixed):
    client.force_login(viewer_user)
    before = statuses(workspace)

    page = client.get(url("dead-letters", workspace))
    refused = client.post(
        url("dead-letters-bulk", workspace), {"action": "replay", "scope": "matching"}
    )

    assert page.status_code == 200
    assert 'data-testid="group-count"' in page.content.decode()
    assert 'data-testid="bulk-matching"' not in page.content.decode()
    assert 'data-testid="select-one"' not in page.content.decode()
    assert refused.status_code == 403
    assert statuses(workspace) == before


def test_another_workspace_cannot_act_on_these_dead_letters(
    client, workspace, other_admin_user, mixed
):
    client.force_login(other_admin_user)

    response = client.post(
        url("dead-letters-bulk", workspace), {"action": "replay", "scope": "matching"}
    )

    assert response.status_code == 404
    assert set(statuses(workspace).values()) == {"dead"}


def test_a_locked_audit_log_refuses_before_any_batch(workspace, admin_user, mixed):
    audit_advisory_lock_enable(workspace=workspace, actor=admin_user)
    before = statuses(workspace)

    with pytest.raises(DomainError):
        services.dead_letters_bulk(workspace=workspace, actor=admin_user, action="discard")

    assert statuses(workspace) == before


@pytest.mark.parametrize("anchor", ["²", "٣", "9" * 30, "-1", "1e3"])
@pytest.mark.parametrize("page", ["deliveries", "dead-letters"])
def test_an_unreadable_page_anchor_is_ignored(signed_in, workspace, mixed, page, anchor):
    # "²".isdigit() is true and int("²") raises: an anchor is ASCII digits or nothing.
    for key in ("before", "after") if page == "dead-letters" else ("before",):
        response = signed_in.get(url(page, workspace), {key: anchor})

        assert response.status_code == 200
        assert len(response.context["deliveries"]) == 5


def test_the_matching_count_is_right_with_more_groups_than_shown(signed_in, workspace, mixed):
    letters = "abcdefghijklmnopqrstuvwxyz"
    for i in range(selectors.DEAD_LETTER_GROUPS_SHOWN):
        dead(mixed["hook"], f"reason {letters[i // 26]}{letters[i % 26]}")

    every = signed_in.get(url("dead-letters", workspace))
    one = signed_in.get(url("dead-letters", workspace), {"reason": "reason bx"})
    hook_only = signed_in.get(
        url("dead-letters", workspace), {"destination": mixed["hook"].public_id}
    )

    assert len(every.context["groups"]) == selectors.DEAD_LETTER_GROUPS_SHOWN
    assert every.context["matching"] == 5 + selectors.DEAD_LETTER_GROUPS_SHOWN
    assert one.context["matching"] == 1
    assert hook_only.context["matching"] == 3 + selectors.DEAD_LETTER_GROUPS_SHOWN
    few = selectors.dead_letter_summary(workspace=workspace, destination=mixed["ga4"])
    assert ([(g.reason, g.count) for g in few[0]], few[1]) == (
        [
            ("gave up after # attempts: HTTP 500", 1),
            (TOO_OLD.replace("{}", "#").replace("up to 72", "up to #"), 1),
        ],
        2,
    )
