"""The access review pages: who reads and who decides, form errors on the item's row (422),
refusals above the section (409), a campaign of another workspace is 404, and the exports."""

import csv
import datetime as dt
import hashlib
import io
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from compliance.access_reviews import services
from compliance.access_reviews.export import CSV_COLUMNS
from compliance.access_reviews.models import Campaign
from tests.audit_entries import last_entry
from tests.compliance.access_reviews.conftest import item_of
from workspaces.models import Membership

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def _url(name, campaign=None, workspace=None):
    workspace = workspace or campaign.workspace
    kwargs = {"slug": workspace.slug}
    if campaign is not None:
        kwargs["campaign_id"] = campaign.public_id
    return reverse(f"access_reviews:{name}", kwargs=kwargs)


def test_members_who_read_the_audit_log_read_reviews_admins_decide(
    client, workspace, viewer_user, campaign, people
):
    client.force_login(viewer_user)

    listing = client.get(_url("list", workspace=workspace))
    page = client.get(_url("detail", campaign))

    assert listing.status_code == 200 and campaign.public_id in listing.content.decode()
    assert 'data-testid="campaign-open-form"' not in listing.content.decode()
    assert page.status_code == 200 and people["editor"].email in page.content.decode()
    assert 'data-testid="decide-form"' not in page.content.decode()
    item = item_of(campaign, people["editor"].public_id)
    refused = client.post(_url("decide", campaign), {"item": item.public_id, "decision": "confirm"})
    assert refused.status_code == 403
    assert (
        client.post(_url("open", workspace=workspace), {"due_at": "2099-01-01"}).status_code == 403
    )


def test_an_admin_opens_a_review_and_a_bad_due_date_is_refused_on_its_field(
    client, workspace, admin_user, people
):
    client.force_login(admin_user)

    past = client.post(_url("open", workspace=workspace), {"due_at": "2020-01-01"}, **HTMX)
    garbage = client.post(_url("open", workspace=workspace), {"due_at": "tomorrow"}, **HTMX)

    assert (
        past.status_code == 422 and "The due date must be in the future." in past.content.decode()
    )
    assert garbage.status_code == 422
    assert not Campaign.objects.exists()

    opened = client.post(_url("open", workspace=workspace), {"due_at": _in_days(10)})
    campaign = Campaign.objects.get()
    assert opened.status_code == 302 and opened["Location"] == _url("detail", campaign)
    assert campaign.due_at.date().isoformat() == _in_days(10)
    again = client.post(_url("open", workspace=workspace), {"due_at": _in_days(10)}, **HTMX)
    assert again.status_code == 409 and "open already" in again.content.decode()


def _in_days(days: int) -> str:
    return (timezone.now() + dt.timedelta(days=days)).date().isoformat()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"decision": "remove", "comment": ""}, "a comment is required"),
        ({"decision": "change", "comment": "x"}, "Choose the new role"),
        ({"decision": "approve"}, "Select a valid choice"),
        ({"decision": ""}, "This field is required"),  # "Decide…": no silent confirm
        ({"decision": "change", "new_role": "root", "comment": "x"}, "Select a valid choice"),
        ({"decision": "confirm", "comment": "x" * 2001}, "at most 2000 characters"),
    ],
)
def test_a_refused_decision_comes_back_on_its_row(
    client, workspace, admin_user, campaign, people, data, message
):
    client.force_login(admin_user)
    item = item_of(campaign, people["editor"].public_id)

    response = client.post(_url("decide", campaign), {"item": item.public_id, **data}, **HTMX)

    assert response.status_code == 422
    assert message in response.content.decode()
    item.refresh_from_db()
    assert item.decision == ""


def test_an_item_that_is_not_there_is_422(client, admin_user, campaign, other_workspace):
    client.force_login(admin_user)
    for data in ({}, {"item": "ari_nope", "decision": "confirm"}, {"item": "x" * 40}):
        response = client.post(_url("decide", campaign), data, **HTMX)
        assert response.status_code == 422, data


def test_deciding_completing_and_the_refusals_above_the_section(
    client, workspace, admin_user, campaign, people, keys
):
    client.force_login(admin_user)
    own = item_of(campaign, admin_user.public_id)

    removing_the_last_admin = client.post(
        _url("decide", campaign),
        {"item": own.public_id, "decision": "remove", "comment": "Bye"},
        **HTMX,
    )
    assert removing_the_last_admin.status_code == 409
    assert "at least one admin" in removing_the_last_admin.content.decode()

    early = client.post(_url("complete", campaign), **HTMX)
    assert early.status_code == 409 and "still undecided" in early.content.decode()

    confirmed = client.post(
        _url("decide", campaign), {"item": own.public_id, "decision": "confirm"}, **HTMX
    )
    assert confirmed.status_code == 200
    assert "Self-review" in confirmed.content.decode()
    viewer = item_of(campaign, people["viewer"].public_id)
    client.post(
        _url("decide", campaign),
        {"item": viewer.public_id, "decision": "remove", "comment": "Left"},
        **HTMX,
    )
    for item in campaign.items.filter(decision=""):
        client.post(_url("decide", campaign), {"item": item.public_id, "decision": "confirm"})

    done = client.post(_url("complete", campaign), **HTMX)

    assert done.status_code == 200 and 'data-status="completed"' in done.content.decode()
    assert not Membership.objects.filter(workspace=workspace, user=people["viewer"]).exists()
    assert last_entry(workspace)["event_type"] == "access_review.completed"


def test_a_campaign_of_another_workspace_is_404_under_ones_own(
    client, other_workspace, other_admin_user, campaign
):
    client.force_login(other_admin_user)
    for name in ("detail", "export-csv", "export-json"):
        url = reverse(
            f"access_reviews:{name}",
            kwargs={"slug": other_workspace.slug, "campaign_id": campaign.public_id},
        )
        assert client.get(url).status_code == 404


def _complete(workspace, admin_user, campaign, decide, people):
    decide(campaign, people["editor"].public_id, "change", new_role="viewer", comment="Reads")
    decide(campaign, people["viewer"].public_id, "remove", comment='=HYPERLINK("x")')
    for item in campaign.items.filter(decision=""):
        decide(campaign, item.subject_id, "confirm")
    return services.access_review_complete(workspace=workspace, actor=admin_user, campaign=campaign)


def test_the_exports(client, workspace, viewer_user, admin_user, campaign, decide, people, keys):
    completed = _complete(workspace, admin_user, campaign, decide, people)
    client.force_login(admin_user)

    as_json = client.get(_url("export-json", completed))
    as_csv = client.get(_url("export-csv", completed))

    assert as_json.status_code == 200 and as_json["Content-Type"] == "application/json"
    assert hashlib.sha256(as_json.content).hexdigest() == completed.result_sha256
    assert as_json["X-Content-SHA256"] == completed.result_sha256
    assert last_entry(workspace)["payload"]["result_sha256"] == completed.result_sha256
    document = json.loads(as_json.content)
    assert document["format"] == "tracklayer.access_review/1"
    assert document["campaign"]["id"] == completed.public_id
    assert document["campaign"]["completed_by"]["name"] == "Ada Admin"
    assert document["counts"]["removed"] == 1 and document["counts"]["changed"] == 1
    by_subject = {i["subject_id"]: i for i in document["items"]}
    editor = by_subject[people["editor"].public_id]
    assert (editor["decision"], editor["new_role"], editor["outcome"]) == (
        "change",
        "viewer",
        "role_changed",
    )
    assert editor["comment"] == "Reads" and editor["mfa"] is False
    assert by_subject[admin_user.public_id]["self_review"] is True
    key = by_subject[keys["storefront"].public_id]
    assert key["prefix"] == keys["storefront"].display_prefix and key["age_days"] == 0

    assert as_csv.status_code == 200 and as_csv["Content-Type"].startswith("text/csv")
    assert "attachment" in as_csv["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(as_csv.content.decode())))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 5
    viewer = next(r for r in rows if r["subject_id"] == people["viewer"].public_id)
    assert (viewer["decision"], viewer["outcome"], viewer["email"]) == (
        "remove",
        "removed",
        people["viewer"].email,
    )
    assert viewer["comment"] == '\'=HYPERLINK("x")'  # never a formula in a spreadsheet
    own = next(r for r in rows if r["subject_id"] == admin_user.public_id)
    assert (own["self_review"], own["mfa"], own["decided_by"]) == ("yes", "yes", "Ada Admin")

    # The export does not change with what happens afterwards (a rename, say)
    admin_user.name = "Ada Renamed"
    admin_user.save()
    workspace.name = "Renamed"
    workspace.save()
    again = client.get(_url("export-json", completed))
    assert hashlib.sha256(again.content).hexdigest() == completed.result_sha256


def test_a_role_chosen_then_abandoned_for_confirm_is_ignored(client, admin_user, campaign, people):
    client.force_login(admin_user)
    item = item_of(campaign, people["editor"].public_id)

    response = client.post(
        _url("decide", campaign),
        {"item": item.public_id, "decision": "confirm", "new_role": "admin"},
        **HTMX,
    )

    assert response.status_code == 200
    item.refresh_from_db()
    assert (item.decision, item.new_role) == ("confirm", "")
