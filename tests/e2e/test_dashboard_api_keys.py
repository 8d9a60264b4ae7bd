"""The demo admin signs in, creates an API key, sees it listed, uses it, and revokes it."""

import json
import urllib.error
import urllib.request

import pytest

from audit.models import AuditEntry
from tests.e2e.helpers import open_demo
from workspaces.management.commands.seed_demo import DEMO_SLUG

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def whoami(base_url: str, token: str) -> tuple[int, dict]:
    request = urllib.request.Request(  # noqa: S310 - the live server
        f"{base_url}/v1/whoami", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_admin_creates_lists_and_revokes_an_api_key(page, live_server, tmp_path):
    # Sign in as the demo admin: the dashboard opens on the demo workspace
    open_demo(page)
    page.get_by_role("link", name="API keys").click()
    page.wait_for_url(f"**/w/{DEMO_SLUG}/api-keys/")

    # Create a key (htmx swaps the section in place): the token is shown once
    form = page.get_by_test_id("key-create-form")
    form.get_by_label("Name").fill("Browser storefront")
    form.get_by_role("button", name="Create key").click()
    token = page.get_by_test_id("new-token").inner_text().strip()
    assert token.startswith("tl_live_")
    page.screenshot(path=tmp_path / "key-created.png", full_page=True)

    # It is listed, active, and it authenticates against the API
    row = page.locator("tr", has_text="Browser storefront")
    assert row.get_attribute("data-state") == "active"
    key_id = row.get_attribute("data-key")
    status, body = whoami(live_server.url, token)
    assert (status, body["key_prefix"]) == (200, token.rsplit("_", 1)[0])

    # Revoke it (the confirm dialog is accepted): the row says so and the API refuses it
    row.get_by_role("button", name="Revoke").click()
    page.locator("tr[data-state='revoked']", has_text="Browser storefront").wait_for()
    assert page.get_by_test_id("new-token").count() == 0  # the secret is never shown again
    status, body = whoami(live_server.url, token)
    assert (status, body["error"]["code"]) == (401, "api_key_revoked")

    # The audit log page shows both changes, newest first
    page.get_by_role("link", name="Audit log").click()
    events = page.locator("[data-testid=audit-table] tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.event)"
    )
    assert events[:2] == ["api_key.revoked", "api_key.created"]
    key_entries = AuditEntry.objects.filter(workspace__slug=DEMO_SLUG, resource_id=key_id)
    assert sorted(key_entries.values_list("event_type", flat=True)) == [
        "api_key.created",
        "api_key.revoked",
    ]


def test_viewer_sees_keys_but_cannot_manage_them(page):
    open_demo(page, "viewer@demo.tracklayer.test")
    page.get_by_role("link", name="API keys").click()
    page.locator("tr", has_text="Demo storefront").wait_for()
    assert page.get_by_test_id("key-create-form").count() == 0
    assert page.get_by_role("button", name="Revoke").count() == 0
