"""A marketer watches events arrive live, pauses the stream, filters it and opens one event —
in a real browser, under the dashboard's CSP (polling, pausing and the drawer need no inline
script)."""

import hashlib

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from tests.e2e.helpers import sign_in
from tests.factories import EventFactory
from workspaces.management.commands.seed_demo import DEMO_PASSWORD, DEMO_SLUG
from workspaces.models import Workspace

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

EMAIL_HASH = hashlib.sha256(b"ada@example.test").hexdigest()


def row(page, message_id: str):
    return page.get_by_test_id("events-table").locator(f"tr[data-message-id='{message_id}']")


def test_events_arrive_live_pause_filter_and_open_in_the_drawer(page):
    call_command("seed_demo")
    workspace = Workspace.objects.get(slug=DEMO_SLUG)
    EventFactory(workspace=workspace, message_id="e2e-page", type="page", name="Home")
    sign_in(page, "admin@demo.tracklayer.test", DEMO_PASSWORD)
    page.wait_for_url(f"**/w/{DEMO_SLUG}/")
    page.locator(".sidebar").get_by_role("link", name="Events").click()
    row(page, "e2e-page").wait_for()

    # An event is stored while the page is open: the next poll shows it, marked new
    EventFactory(
        workspace=workspace,
        message_id="e2e-identify",
        type="identify",
        name="",
        identifiers={"meta": {"em": EMAIL_HASH}},
        validation={"hashed": ["traits.email"], "removed": ["context.ip"], "warnings": []},
        consent={"gpc": True, "consent_mode": {"ad_storage": False}, "country": "DE"},
    )
    page.locator("tr.event-new[data-message-id='e2e-identify']").wait_for(timeout=6_000)

    # Paused, the table stands still; resumed, it catches up
    toggle = page.get_by_test_id("live-toggle")
    toggle.click()
    expect(toggle).to_have_text("Resume")
    indicator = page.get_by_test_id("live-indicator")
    expect(indicator.get_by_text("Paused", exact=True)).to_be_visible()
    expect(indicator.get_by_text("Live · every 2 s")).to_be_hidden()
    EventFactory(workspace=workspace, message_id="e2e-while-paused", type="track", name="Late")
    page.wait_for_timeout(3_000)
    expect(row(page, "e2e-while-paused")).to_have_count(0)
    toggle.click()
    row(page, "e2e-while-paused").wait_for(timeout=6_000)

    # Filtering by type narrows the table and puts the filter in the URL
    page.get_by_label("Type").select_option("identify")
    page.wait_for_url("**/events/?type=identify**")
    expect(row(page, "e2e-page")).to_have_count(0)
    expect(row(page, "e2e-identify")).to_have_count(1)

    # The drawer: envelope, hashed field names, consent signals — no hash value
    row(page, "e2e-identify").get_by_test_id("event-open").click()
    drawer = page.get_by_test_id("event-drawer")
    expect(drawer.get_by_test_id("hashed-fields")).to_have_text("traits.email")
    expect(drawer.get_by_test_id("identifiers")).to_contain_text("meta: em (1 field)")
    expect(drawer.get_by_test_id("gpc")).to_contain_text("opt-out of sale and sharing")
    expect(drawer.get_by_test_id("consent-mode")).to_contain_text("ad_storage: denied")
    assert EMAIL_HASH not in drawer.inner_html()

    # The drawer stays open across polls, and closes on request
    page.wait_for_timeout(2_500)
    expect(drawer.get_by_test_id("event-detail")).to_be_visible()
    drawer.get_by_role("button", name="Close the event detail").click()
    expect(drawer).to_be_hidden()

    # A shared link opens the same filtered view
    page.goto(page.url)
    expect(page.get_by_label("Type")).to_have_value("identify")
    expect(row(page, "e2e-page")).to_have_count(0)
