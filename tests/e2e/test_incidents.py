"""An admin opens an incident by hand, pauses the destination it concerns, marks it contained
within the hour, is refused closing it without a post-mortem (an error on each field), writes
the post-mortem and closes it — in a real browser, under the dashboard's CSP."""

import pytest

from destinations.models import Destination, DestinationState
from monitoring.incidents.models import Incident, Phase
from tests.audit_entries import audit_entries
from tests.e2e.helpers import open_demo
from workspaces.management.commands.seed_demo import DEMO_SLUG

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
]

POSTMORTEM = {
    "Impact": "Purchases did not reach Meta for 40 minutes.",
    "Timeline": "09:12 errors began; 09:20 paused; 09:40 token rotated.",
    "Contributing factors": "The access token expired without warning.",
    "Corrective actions": "Alert a week before a token expires.",
}


def test_open_contain_postmortem_close(page):
    open_demo(page)
    destination = (
        Destination.objects.filter(workspace__slug=DEMO_SLUG, state=DestinationState.ACTIVE)
        .order_by("name", "pk")
        .first()
    )
    page.goto(f"/w/{DEMO_SLUG}/incidents/")

    form = page.get_by_test_id("incident-open-form")
    form.get_by_label("Title").fill("   ")  # the browser sends it; the server refuses it
    form.get_by_label("Severity").select_option("high")
    form.get_by_role("button", name="Open incident").click()
    page.get_by_test_id("incident-open-form").get_by_role("alert").first.wait_for()
    assert not Incident.objects.exists()

    form = page.get_by_test_id("incident-open-form")
    form.get_by_label("Title").fill("Meta rejects purchases")
    form.get_by_label("Destination concerned").select_option(destination.public_id)
    form.get_by_label("What is happening").fill("Every request answers 401.")
    form.get_by_role("button", name="Open incident").click()
    page.get_by_test_id("incident").wait_for()
    incident = Incident.objects.get()
    assert page.url.endswith(f"/incidents/{incident.public_id}/")
    assert page.get_by_test_id("target").get_attribute("data-target") == "remaining"

    containment = page.get_by_test_id("pause-form")
    containment.get_by_label("Destination").select_option(destination.public_id)
    containment.get_by_role("button", name="Pause destination").click()  # confirmed
    page.locator("[data-testid=timeline] tr[data-kind=containment_action]").wait_for()
    destination.refresh_from_db()
    assert destination.state == DestinationState.PAUSED

    page.get_by_test_id("phase-forward").click()  # Mark contained
    page.locator("[data-testid=incident][data-phase=contain]").wait_for()
    assert page.get_by_test_id("target").get_attribute("data-target") == "met"
    page.get_by_test_id("phase-forward").click()  # Mark eradicated
    page.locator("[data-testid=incident][data-phase=eradicate]").wait_for()
    page.get_by_test_id("phase-forward").click()  # Start review
    page.locator("[data-testid=incident][data-phase=review]").wait_for()

    page.get_by_test_id("close").click()
    postmortem = page.get_by_test_id("postmortem-form")
    postmortem.get_by_text("Required to close the incident.").first.wait_for()
    assert postmortem.get_by_text("Required to close the incident.").count() == 4
    assert Incident.objects.get().phase == Phase.REVIEW

    for label, text in POSTMORTEM.items():
        postmortem.get_by_label(label).fill(text)
    page.get_by_test_id("close").click()
    page.locator("[data-testid=incident][data-phase=closed]").wait_for()
    assert POSTMORTEM["Corrective actions"] in page.get_by_test_id("postmortem").inner_text()

    closed = Incident.objects.get()
    assert closed.phase == Phase.CLOSED and closed.contained_at is not None
    workspace = closed.workspace
    types = [
        entry["event_type"]
        for entry in audit_entries(workspace)
        if "incident" in entry["event_type"]
    ]
    assert types == [
        "incident.opened",
        "incident.note_added",
        "incident.containment_action",
        "incident.phase_changed",
        "incident.phase_changed",
        "incident.phase_changed",
        "incident.postmortem_saved",
        "incident.closed",
    ]
    page.get_by_role("link", name="All incidents").click()
    row = page.locator(f"tr[data-incident='{closed.public_id}']")
    assert row.get_attribute("data-phase") == "closed"
