"""A marketing admin pastes a tracking plan, sees its events listed, fixes a schema error shown
on its field, and exports the plan — in a real browser, under the dashboard's CSP."""

import json

import pytest

from audit.models import AuditEntry
from destinations.models import TrackingPlan
from tests.e2e.helpers import open_demo
from workspaces.management.commands.seed_demo import DEMO_SLUG

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PLAN = {
    "mode": "flag",
    "unplanned": "allow",
    "events": {
        "Order Completed": {
            "type": "object",
            "properties": {
                "order_id": {"type": "string"},
                "total": {"type": "number", "minimum": 0},
                "currency": {"enum": ["USD", "EUR"]},
            },
            "required": ["order_id", "total"],
        },
        "$identify": {"type": "object", "properties": {"plan": {"type": "string"}}},
    },
}


def test_admin_imports_edits_and_exports_a_tracking_plan(page, tmp_path):
    open_demo(page)
    page.locator(".sidebar").get_by_role("link", name="Tracking plan").click()
    page.wait_for_url(f"**/w/{DEMO_SLUG}/settings/tracking-plan/")
    assert "No tracking plan yet" in page.get_by_test_id("plan-version").inner_text()

    # Import by pasting: htmx swaps the section, the events are listed
    importer = page.get_by_test_id("plan-import")
    importer.get_by_label("Paste the plan JSON").fill(json.dumps(PLAN, indent=2))
    importer.get_by_role("button", name="Import").click()
    page.get_by_text("Plan imported: 2 events, version 1.").wait_for()
    events = page.get_by_test_id("plan-events")
    assert events.locator("details[data-event='Order Completed']").count() == 1
    assert events.locator("details[data-event='$identify']").count() == 1
    assert page.get_by_test_id("plan-mode-form").get_by_label(
        "Events that break their schema"
    ).input_value() == ("flag")
    entry = AuditEntry.objects.filter(workspace__slug=DEMO_SLUG).order_by("-idx").first()
    assert entry.event_type == "tracking_plan.updated"

    # A broken schema comes back with its error on the field, and the input kept
    order = events.locator("details[data-event='Order Completed']")
    order.locator("summary").click()
    schema = order.get_by_label("JSON Schema")
    schema.fill('{"type": "object", "required": ["order_id"],}')
    order.get_by_role("button", name="Save schema").click()
    error = page.locator("details[data-event='Order Completed'] .field-invalid .error")
    error.wait_for()
    assert "Not valid JSON" in error.inner_text()

    # Fixed, it is saved as the plan's next version
    order = page.locator("details[data-event='Order Completed']")
    order.get_by_label("JSON Schema").fill('{"type": "object", "required": ["order_id"]}')
    order.get_by_role("button", name="Save schema").click()
    page.get_by_text("“Order Completed” saved.").wait_for()
    assert TrackingPlan.objects.get(workspace__slug=DEMO_SLUG).version == 2

    # A bad import is refused with a message that says what is wrong
    importer = page.get_by_test_id("plan-import")
    importer.get_by_label("Paste the plan JSON").fill('{"events": {}, "owner": "me"}')
    importer.get_by_role("button", name="Import").click()
    page.get_by_test_id("plan-import").get_by_role("alert").wait_for()
    assert "Unknown key 'owner'" in page.get_by_test_id("plan-import").inner_text()

    page.screenshot(path=tmp_path / "tracking-plan.png", full_page=True)
    # Export downloads the plan as a JSON file
    with page.expect_download() as download_info:
        page.get_by_test_id("plan-export").click()
    download = download_info.value
    assert download.suggested_filename == f"tracking-plan-{DEMO_SLUG}.json"
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    exported = json.loads(target.read_text())
    assert exported["mode"] == "flag"
    assert exported["events"]["Order Completed"] == {"type": "object", "required": ["order_id"]}
    assert exported["events"]["$identify"] == PLAN["events"]["$identify"]
