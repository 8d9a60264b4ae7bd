"""An editor pages back through the events debugger, finds one event by its messageId, and
replays a whole reason's worth of dead letters at once — in a real browser, under the
dashboard's CSP (paging and filters are htmx; the bulk forms work without script)."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from destinations.models import Delivery, Destination
from tests.audit_entries import audit_entries
from tests.destinations.factories import DeliveryFactory
from tests.e2e.helpers import open_demo
from tests.factories import EventFactory
from workspaces.management.commands.seed_demo import DEMO_SLUG
from workspaces.models import Workspace

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

REASON = "gave up after {} attempts: HTTP 502"
GROUP = "gave up after # attempts: HTTP 502"


def test_page_search_and_replay_a_reason_in_bulk(page):
    open_demo(page)
    workspace = Workspace.objects.get(slug=DEMO_SLUG)
    now = timezone.now()
    for i in range(60):  # more than a page, newer than anything the demo has
        EventFactory(
            workspace=workspace,
            message_id=f"e2e-page-{i:02d}",
            name="Paged",
            received_at=now + timedelta(seconds=i),
            timestamp=now,
        )

    # Events: the newest page, then older, then a messageId search
    page.locator(".sidebar").get_by_role("link", name="Events").click()
    table = page.get_by_test_id("events-table")
    table.locator("tr[data-message-id='e2e-page-59']").wait_for()
    expect(table.locator("tr[data-message-id='e2e-page-09']")).to_have_count(0)
    table.get_by_test_id("older").click()
    page.wait_for_url("**/events/?before=e2e-page-10")
    table.locator("tr[data-message-id='e2e-page-09']").wait_for()
    expect(table.locator("tr[data-message-id='e2e-page-59']")).to_have_count(0)
    expect(table).not_to_have_attribute("hx-trigger", "every 2s")
    table.get_by_test_id("latest").click()
    table.locator("tr[data-message-id='e2e-page-59']").wait_for()
    page.get_by_label("messageId").fill("e2e-page-33")
    page.wait_for_url("**/events/?*message_id=e2e-page-33*")
    expect(table.locator("tr[data-message-id]")).to_have_count(1)

    # Dead letters: five of one reason (ages differ), two of another
    destination = Destination.objects.filter(workspace=workspace, deleted_at__isnull=True).first()
    ours = [
        DeliveryFactory(destination=destination, status="dead", dead_reason=REASON.format(n))
        for n in (3, 4, 5, 6, 7)
    ]
    others = [
        DeliveryFactory(destination=destination, status="dead", dead_reason="refused: HTTP 400")
        for _ in range(2)
    ]
    page.goto(f"/w/{DEMO_SLUG}/destinations/dead-letters/")
    groups = page.get_by_test_id("dead-letter-groups")
    group = groups.locator(f"tr[data-reason='{GROUP}']")
    expect(group.get_by_test_id("group-count")).to_have_text("5")
    group.get_by_role("link").click()
    page.wait_for_url("**/dead-letters/?reason=**")
    expect(page.get_by_test_id("dead-letters-table").get_by_test_id("select-one")).to_have_count(5)
    page.get_by_test_id("replay-matching").click()
    page.get_by_text("5 dead letters queued again.").wait_for()

    statuses = dict(Delivery.objects.for_workspace(workspace).values_list("pk", "status"))
    assert {statuses[d.pk] for d in ours} == {"pending"}
    assert {statuses[d.pk] for d in others} == {"dead"}
    [entry] = audit_entries(workspace, "dead_letters.replayed")
    assert entry["payload"]["count"] == 5
    assert entry["payload"]["filters"]["reason"] == GROUP
