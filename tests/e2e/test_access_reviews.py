"""An admin runs an access review in a real browser, under the dashboard's CSP: opens it,
looks at the flagged rows, is refused removing without a comment (on the row), changes the
editor's role, removes the viewer (each answer swaps its row only), confirms themself (a
self-review) and the API key, completes it — the decisions are applied — and downloads the
JSON export, which hashes to what the audit log recorded."""

import csv
import hashlib
import io
import json

import pytest

from compliance.access_reviews.models import Campaign, CampaignStatus
from tests.audit_entries import audit_entries
from tests.e2e.helpers import open_demo
from workspaces.management.commands.seed_demo import DEMO_SLUG
from workspaces.models import Membership, Role, User

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
]


def _row(page, user_or_id):
    subject = user_or_id if isinstance(user_or_id, str) else user_or_id.public_id
    return page.locator(f"tr[data-subject='{subject}']")


def _decide(page, subject, name: str, decision: str, *, comment="", role=None):
    row = _row(page, subject)
    row.get_by_label(f"Decision for {name}").select_option(decision)
    if role:
        row.get_by_label(f"New role for {name}").select_option(role)
    row.get_by_label(f"Comment for {name}").fill(comment)
    row.get_by_role("button", name="Save").click()


def test_run_a_review_end_to_end(page, tmp_path):
    open_demo(page)
    admin = User.objects.get(email="admin@demo.tracklayer.test")
    editor = User.objects.get(email="editor@demo.tracklayer.test")
    viewer = User.objects.get(email="viewer@demo.tracklayer.test")
    page.goto(f"/w/{DEMO_SLUG}/compliance/access-reviews/")

    page.get_by_test_id("campaign-open-form").get_by_role("button", name="Open review").click()
    page.get_by_test_id("access-review").wait_for()
    # (the demo may hold a completed review already: this is the open one)
    campaign = Campaign.objects.get(workspace__slug=DEMO_SLUG, status=CampaignStatus.OPEN)
    assert page.url.endswith(f"/compliance/access-reviews/{campaign.public_id}/")
    [key] = campaign.items.filter(kind="api_key")

    # "Flagged" narrows the rows to those to look at twice (here: the members, none has MFA;
    # the key is young), and back to all
    page.locator("[data-show=flagged]").click()
    page.locator("[data-show=flagged][aria-current]").wait_for()
    assert page.url.endswith("?show=flagged")
    assert _row(page, key.subject_id).count() == 0 and _row(page, viewer).count() == 1
    page.locator("[data-show=all]").click()
    page.locator("[data-show=all][aria-current]").wait_for()

    # Removing without saying why is refused on the row itself
    _decide(page, viewer, "Vera Viewer", "remove")
    _row(page, viewer).get_by_role("alert").wait_for()
    assert "a comment is required" in _row(page, viewer).inner_text()

    # A decision swaps its own row only: what is typed in another row stays
    _row(page, editor).get_by_label("Comment for Eddie Editor").fill("Only reads reports")
    _decide(page, viewer, "Vera Viewer", "remove", comment="Left the agency in November")
    page.locator(f"tr[data-subject='{viewer.public_id}'][data-decision=remove]").wait_for()
    comment = _row(page, editor).get_by_label("Comment for Eddie Editor")
    assert comment.input_value() == "Only reads reports"
    assert "1 of 4" in page.get_by_test_id("progress").inner_text()
    _decide(page, editor, "Eddie Editor", "change", role="viewer", comment="Only reads reports")
    page.locator(f"tr[data-subject='{editor.public_id}'][data-decision=change]").wait_for()
    _decide(page, admin, "Ada Admin", "confirm")
    page.locator(f"tr[data-subject='{admin.public_id}'][data-self-review]").wait_for()
    _decide(page, key.subject_id, key.name, "confirm")
    page.locator(f"tr[data-subject='{key.subject_id}'][data-decision=confirm]").wait_for()
    assert "4 of 4" in page.get_by_test_id("progress").inner_text()

    page.get_by_test_id("complete").click()  # confirmed
    page.locator("[data-testid=access-review][data-status=completed]").wait_for()

    memberships = dict(
        Membership.objects.filter(workspace__slug=DEMO_SLUG).values_list("user__email", "role")
    )
    assert memberships[editor.email] == Role.VIEWER
    assert viewer.email not in memberships
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.COMPLETED and campaign.completed_by == admin
    completed = audit_entries(campaign.workspace, "access_review.completed")[-1]
    assert completed["payload"]["result_sha256"] == campaign.result_sha256
    assert page.get_by_test_id("result-sha256").inner_text() == campaign.result_sha256

    with page.expect_download() as download_info:
        page.get_by_test_id("export-json").click()
    target = tmp_path / download_info.value.suggested_filename
    download_info.value.save_as(target)
    assert hashlib.sha256(target.read_bytes()).hexdigest() == campaign.result_sha256
    document = json.loads(target.read_bytes())
    assert (document["counts"]["changed"], document["counts"]["removed"]) == (1, 1)

    with page.expect_download() as download_info:
        page.get_by_test_id("export-csv").click()
    target = tmp_path / download_info.value.suggested_filename
    download_info.value.save_as(target)
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert {r["subject_id"]: r["outcome"] for r in rows} == {
        admin.public_id: "kept",
        editor.public_id: "role_changed",
        viewer.public_id: "removed",
        key.subject_id: "kept",
    }
