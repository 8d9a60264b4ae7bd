"""A marketing admin adds a signed webhook, sees its secret masked once saved, pauses it with a
reason and resumes it — in a real browser, under the dashboard's CSP."""

import pytest

from audit.models import AuditEntry
from destinations.models import Destination
from destinations.routing import services
from tests.e2e.helpers import open_demo
from workspaces.management.commands.seed_demo import DEMO_SLUG

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SIGNING_SECRET = "whsec_e2e_Q7mZ4pR9tV2xK8nB3cL6"


def test_admin_creates_a_webhook_sees_the_secret_masked_pauses_and_resumes_it(page):
    open_demo(page)
    page.locator(".sidebar").get_by_role("link", name="Destinations").click()
    page.wait_for_url(f"**/w/{DEMO_SLUG}/destinations/")
    page.get_by_test_id("delivery-chart").wait_for()

    # A new webhook, with its signing secret
    page.get_by_role("link", name="New destination").click()
    page.get_by_test_id("destination-types").locator("[data-type='webhook']").click()
    form = page.get_by_test_id("destination-form")
    form.get_by_label("Name", exact=True).fill("Warehouse webhook")
    form.get_by_label("URL", exact=True).fill("http://127.0.0.1:9/tracklayer")
    form.get_by_label("Signing secret", exact=True).fill(SIGNING_SECRET)
    form.get_by_label("Events to send").fill("Order Completed\n$page")
    form.get_by_role("button", name="Create destination").click()
    page.get_by_text("Warehouse webhook created").wait_for()

    # Saved: the secret is masked, never shown, and the input is empty
    destination = Destination.objects.get(workspace__slug=DEMO_SLUG, name="Warehouse webhook")
    assert services.destination_secrets(destination) == {"signing_secret": SIGNING_SECRET}
    form = page.get_by_test_id("destination-form")
    assert f"Stored: ••••{SIGNING_SECRET[-4:]}. Leave empty to keep it." in page.content()
    assert form.get_by_label("Signing secret", exact=True).input_value() == ""
    assert SIGNING_SECRET not in page.content()
    assert page.get_by_test_id("state").get_attribute("data-state") == "active"

    # Pause with a reason: the page says why
    page.get_by_test_id("pause-open").click()
    page.get_by_label("Why (optional)").fill("Receiver maintenance")
    page.get_by_test_id("pause").click()
    page.get_by_test_id("paused-banner").wait_for()
    assert "Receiver maintenance" in page.get_by_test_id("paused-banner").inner_text()
    assert page.get_by_test_id("state").get_attribute("data-state") == "paused"

    # …and the list says it too
    page.locator(".sidebar").get_by_role("link", name="Destinations").click()
    row = page.locator(f"tr[data-destination='{destination.public_id}']")
    assert row.get_attribute("data-state") == "paused"
    assert "Receiver maintenance" in row.inner_text()

    # Resume
    row.get_by_role("link", name="Warehouse webhook").click()
    page.get_by_test_id("resume").click()
    page.get_by_text("Warehouse webhook resumed").wait_for()
    assert page.get_by_test_id("state").get_attribute("data-state") == "active"

    entries = AuditEntry.objects.filter(
        workspace__slug=DEMO_SLUG, resource_id=destination.public_id
    ).order_by("idx")
    assert [e.event_type for e in entries] == [
        "destination.created",
        "destination.paused",
        "destination.resumed",
    ]
    assert all(SIGNING_SECRET not in bytes(e.material).decode() for e in entries)
