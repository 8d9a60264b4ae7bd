"""An admin makes a data-subject request from Privacy → Requests, watches its row finish
without reloading (htmx polling), opens it, and checks the suppression list — in a real browser,
under the dashboard's CSP. The work runs in process (``services.dsr_run``, the task's body)."""

import pytest

from privacy.models import DataSubjectRequest, Suppression
from privacy.requests import services
from tests.e2e.helpers import open_demo
from workspaces.management.commands.seed_demo import DEMO_SLUG

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

EMAIL = "someone@example.com"


def test_admin_makes_a_suppress_request_and_sees_it_finish(page, monkeypatch):
    queued = []
    monkeypatch.setattr(
        "privacy.requests.tasks.dsr_run_task.apply_async",
        lambda args, queue: queued.append(args[0]),
    )
    open_demo(page)
    page.locator(".sidebar").get_by_role("link", name="Requests").click()

    form = page.get_by_test_id("request-form")
    form.get_by_label("Type").select_option("suppress")
    form.get_by_label("Phone").fill("12")
    form.get_by_role("button", name="Make request").click()
    page.get_by_test_id("request-form").get_by_role("alert").first.wait_for()
    assert not DataSubjectRequest.objects.filter(workspace__slug=DEMO_SLUG).exists()

    form = page.get_by_test_id("request-form")
    form.get_by_label("Phone").fill("")
    form.get_by_label("E-mail").fill(EMAIL)
    form.get_by_role("button", name="Make request").click()
    row = page.locator("tr[data-request-id]")
    row.wait_for()
    assert row.get_attribute("data-status") == "pending"
    [request_id] = queued

    services.dsr_run(request_id=request_id)

    page.locator(f"tr[data-request-id='{request_id}'][data-status='completed']").wait_for()
    assert EMAIL not in page.content()
    page.locator(f"tr[data-request-id='{request_id}'] a").click()
    page.get_by_test_id("receipt-link").wait_for()
    assert "added" in page.get_by_test_id("request-counts").inner_text()

    page.get_by_role("link", name="All requests").click()
    page.get_by_role("link", name="Suppressed subjects").click()
    table = page.get_by_test_id("suppressed-table")
    assert table.locator("tr[data-kind='email']").count() == 1
    stored = Suppression.objects.get(workspace__slug=DEMO_SLUG)
    assert stored.keyed_hash[:12] in table.inner_text()
    assert EMAIL not in page.content()
