"""An admin invites a colleague, who creates an account from the link and joins; the admin
then changes the colleague's role and removes them — each step in a real browser."""

import pytest

from audit.models import AuditEntry
from tests.e2e.helpers import open_demo
from workspaces.management.commands.seed_demo import DEMO_SLUG
from workspaces.models import Membership

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_invite_accept_change_role_and_remove(browser, page, live_server):
    open_demo(page)
    first_new_entry = AuditEntry.objects.filter(workspace__slug=DEMO_SLUG).count()
    page.locator(".sidebar").get_by_role("link", name="Members").click()

    # Inviting an existing member is refused on the field; a new colleague is invited as
    # editor and the single-use link is shown
    form = page.get_by_test_id("invite-form")
    form.get_by_label("Email").fill("editor@demo.tracklayer.test")
    form.get_by_role("button", name="Send invitation").click()
    page.get_by_test_id("invite-form").get_by_text("already a member").wait_for()
    form = page.get_by_test_id("invite-form")
    form.get_by_label("Email").fill("colleague@example.test")
    form.get_by_label("Role").select_option("editor")
    form.get_by_role("button", name="Send invitation").click()
    link = page.locator("#invite-link").inner_text().strip()
    assert page.get_by_test_id("invitations-table").inner_text().count("colleague@example.test")

    # The colleague opens it in their own browser, sets a password and lands in the workspace
    colleague = browser.new_context(base_url=live_server.url).new_page()
    colleague.goto(link.replace("http://localhost:8000", live_server.url))
    colleague.get_by_label("Password").fill("a long enough passphrase")
    colleague.get_by_role("button", name="Create account and join").click()
    colleague.wait_for_url(f"**/w/{DEMO_SLUG}/")
    assert "You are editor" in colleague.locator(".sidebar").inner_text()
    colleague.context.close()

    # The admin sees the new member, makes them a viewer (htmx on change), then removes them
    page.reload()
    row = page.locator("tr[data-member='colleague@example.test']")
    row.get_by_label("Role of colleague@example.test").select_option("viewer")
    page.get_by_text("is now viewer").wait_for()
    assert Membership.objects.get(user__email="colleague@example.test").role == "viewer"
    page.locator("tr[data-member='colleague@example.test']").get_by_role(
        "button", name="Remove"
    ).click()
    page.get_by_text("was removed").wait_for()
    assert not Membership.objects.filter(user__email="colleague@example.test").exists()

    events = list(
        AuditEntry.objects.filter(workspace__slug=DEMO_SLUG, idx__gte=first_new_entry)
        .order_by("idx")
        .values_list("event_type", flat=True)
    )
    assert events == [
        "member.invited",
        "member.joined",
        "auth.sign_in_succeeded",
        "member.role_changed",
        "member.removed",
    ]
