"""What a security reviewer asks of a review: the reviewer's own step-down never stops the
completion half-way, the snapshot can be checked against its hash (by TrackLayer before it
applies anything, and by an auditor from the JSON export alone), and a decision or a second
completion landing during a completion waits and is refused."""

import hashlib
import json
import threading

import pytest
from django.db import connections
from django.urls import reverse

from audit.canonical import canonical_json
from compliance.access_reviews import export, services
from compliance.access_reviews.models import CampaignStatus, Item, Outcome
from tests.audit_entries import audit_entries
from tests.compliance.access_reviews.conftest import item_of
from tracklayer.exceptions import ConflictError
from workspaces.models import Membership, Role


def _confirm_the_rest(campaign, decide):
    for item in campaign.items.filter(decision=""):
        decide(campaign, item.subject_id, "confirm")


@pytest.mark.django_db
def test_the_reviewer_stepping_down_is_applied_after_everything_else(
    workspace, admin_user, people, keys, campaign, decide
):
    # "Ada Admin" sorts before "Vera Viewer": applied in that order, the viewer's removal would
    # be refused (Ada is no longer an admin) and the whole completion with it.
    decide(campaign, people["editor"].public_id, "change", new_role="admin", comment="Takes over")
    decide(campaign, admin_user.public_id, "change", new_role="viewer", comment="Steps down")
    decide(campaign, people["viewer"].public_id, "remove", comment="Left")
    _confirm_the_rest(campaign, decide)

    completed = services.access_review_complete(
        workspace=workspace, actor=admin_user, campaign=campaign
    )

    roles = dict(
        Membership.objects.filter(workspace=workspace).values_list("user__public_id", "role")
    )
    assert roles == {people["editor"].public_id: "admin", admin_user.public_id: "viewer"}
    assert item_of(completed, people["viewer"].public_id).outcome == Outcome.REMOVED
    assert item_of(completed, admin_user.public_id).outcome == Outcome.ROLE_CHANGED


@pytest.mark.django_db
def test_the_reviewer_removing_themselves_is_applied_last(
    workspace, admin_user, people, keys, campaign, decide
):
    decide(campaign, people["editor"].public_id, "change", new_role="admin", comment="Takes over")
    decide(campaign, admin_user.public_id, "remove", comment="Leaving")
    decide(campaign, keys["reporting"].public_id, "remove", comment="Unused")
    decide(campaign, people["viewer"].public_id, "remove", comment="Left")
    _confirm_the_rest(campaign, decide)

    services.access_review_complete(workspace=workspace, actor=admin_user, campaign=campaign)

    assert list(Membership.objects.filter(workspace=workspace).values_list("role", flat=True)) == [
        Role.ADMIN
    ]
    assert audit_entries(workspace)[-1]["event_type"] == "access_review.completed"


@pytest.mark.django_db
def test_an_auditor_recomputes_the_snapshot_hash_from_the_json_export(
    workspace, admin_user, people, keys, campaign, decide
):
    decide(campaign, people["viewer"].public_id, "remove", comment="Left")
    _confirm_the_rest(campaign, decide)
    completed = services.access_review_complete(
        workspace=workspace, actor=admin_user, campaign=campaign
    )
    document = json.loads(export.review_json(completed))

    subjects = export.snapshot_from_document(document)

    digest = hashlib.sha256(canonical_json(subjects)).hexdigest()
    assert digest == document["campaign"]["snapshot_sha256"] == completed.snapshot_sha256
    opened = audit_entries(workspace, "access_review.opened")[-1]
    assert opened["payload"]["snapshot_sha256"] == digest


@pytest.mark.django_db
def test_a_snapshot_altered_after_opening_is_refused_at_completion(
    workspace, admin_user, people, campaign, decide
):
    _confirm_the_rest(campaign, decide)
    # Someone with database access makes the reviewed list say the editor was a viewer
    Item.objects.filter(campaign=campaign, subject_id=people["editor"].public_id).update(
        role=Role.VIEWER
    )

    with pytest.raises(ConflictError, match="snapshot"):
        services.access_review_complete(workspace=workspace, actor=admin_user, campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.OPEN


def _in_thread(target, results: list, key: str):
    def run():
        try:
            results.append((key, target()))
        except Exception as error:  # the test looks at what was raised
            results.append((key, error))
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.fixture
def held_completion(monkeypatch):
    """Completions pause after locking the campaign, on their first decision applied, until
    ``release`` is set: what another request meets while one completion is under way."""
    entered, release = threading.Event(), threading.Event()
    real = services._apply

    def slow(item, **kwargs):
        entered.set()
        assert release.wait(30)
        return real(item, **kwargs)

    monkeypatch.setattr(services, "_apply", slow)
    return entered, release


@pytest.mark.django_db(transaction=True)
def test_a_decision_landing_during_completion_waits_and_is_refused(
    workspace, admin_user, people, keys, campaign, decide, held_completion
):
    entered, release = held_completion
    _confirm_the_rest(campaign, decide)
    results: list = []
    completing = _in_thread(
        lambda: services.access_review_complete(
            workspace=workspace, actor=admin_user, campaign=campaign
        ),
        results,
        "complete",
    )
    assert entered.wait(30)
    late = _in_thread(
        lambda: decide(campaign, people["viewer"].public_id, "remove", comment="Late"),
        results,
        "decide",
    )
    late.join(1)
    assert late.is_alive()  # waiting for the completion's lock on the campaign
    release.set()
    completing.join(30)
    late.join(30)

    outcome = dict(results)
    assert outcome["complete"].status == CampaignStatus.COMPLETED
    assert isinstance(outcome["decide"], ConflictError)
    viewer = item_of(campaign, people["viewer"].public_id)
    assert (viewer.decision, viewer.outcome) == ("confirm", Outcome.KEPT)
    assert Membership.objects.filter(workspace=workspace, user=people["viewer"]).exists()
    completed = outcome["complete"]
    completed.refresh_from_db()
    assert hashlib.sha256(export.review_json(completed)).hexdigest() == completed.result_sha256


@pytest.mark.django_db(transaction=True)
def test_two_admins_completing_at_once_complete_once(
    workspace, admin_user, people, keys, campaign, decide, held_completion
):
    entered, release = held_completion
    second_admin = people["editor"]
    Membership.objects.filter(workspace=workspace, user=second_admin).update(role=Role.ADMIN)
    decide(campaign, keys["reporting"].public_id, "remove", comment="Unused")
    _confirm_the_rest(campaign, decide)
    results: list = []

    def complete(actor):
        return lambda: services.access_review_complete(
            workspace=workspace, actor=actor, campaign=campaign
        )

    first = _in_thread(complete(admin_user), results, "first")
    assert entered.wait(30)
    second = _in_thread(complete(second_admin), results, "second")
    second.join(1)
    assert second.is_alive()
    release.set()
    first.join(30)
    second.join(30)

    outcome = dict(results)
    assert outcome["first"].status == CampaignStatus.COMPLETED
    assert isinstance(outcome["second"], ConflictError)
    assert len(audit_entries(workspace, "access_review.completed")) == 1
    assert len(audit_entries(workspace, "api_key.revoked")) == 2  # the fixture's, the review's


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["editor", "viewer"])
@pytest.mark.parametrize("name", ["decide", "confirm-unchanged", "complete", "cancel"])
def test_a_crafted_post_by_a_non_admin_is_403_and_changes_nothing(
    client, workspace, campaign, people, decide, role, name
):
    _confirm_the_rest(campaign, decide)
    client.force_login(people[role])
    url = reverse(
        f"access_reviews:{name}",
        kwargs={"slug": workspace.slug, "campaign_id": campaign.public_id},
    )
    item = item_of(campaign, people[role].public_id)

    response = client.post(
        url,
        {
            "item": item.public_id,
            "decision": "change",
            "new_role": "admin",
            "comment": "Promote myself",
        },
    )

    assert response.status_code == 403
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.OPEN
    assert item_of(campaign, people[role].public_id).decision == "confirm"


@pytest.mark.django_db
def test_an_item_of_another_campaign_or_workspace_is_not_decided_through_this_one(
    client, workspace, admin_user, campaign, people, other_workspace, other_admin_user
):
    foreign = services.access_review_open(workspace=other_workspace, actor=other_admin_user)
    [foreign_item] = foreign.items.all()
    services.access_review_cancel(workspace=workspace, actor=admin_user, campaign=campaign)
    current = services.access_review_open(workspace=workspace, actor=admin_user)
    old_item = item_of(campaign, people["viewer"].public_id)
    client.force_login(admin_user)
    url = reverse(
        "access_reviews:decide",
        kwargs={"slug": workspace.slug, "campaign_id": current.public_id},
    )

    for item in (foreign_item, old_item):
        response = client.post(
            url,
            {"item": item.public_id, "decision": "remove", "comment": "x"},
            HTTP_HX_REQUEST="true",
        )
        assert response.status_code == 422
        item.refresh_from_db()
        assert item.decision == ""
    # …nor through the other workspace's campaign under this workspace's address
    response = client.post(
        reverse(
            "access_reviews:decide",
            kwargs={"slug": workspace.slug, "campaign_id": foreign.public_id},
        ),
        {"item": foreign_item.public_id, "decision": "remove", "comment": "x"},
    )
    assert response.status_code == 404
    assert not current.items.exclude(decision="").exists()


@pytest.mark.django_db
def test_the_result_still_hashes_to_the_log_once_the_reviewer_account_is_deleted(
    workspace, admin_user, people, campaign, decide
):
    _confirm_the_rest(campaign, decide)
    completed = services.access_review_complete(
        workspace=workspace, actor=admin_user, campaign=campaign
    )
    reviewer_id = admin_user.public_id

    admin_user.delete()  # the reviewer leaves the company; their account goes
    completed.refresh_from_db()

    document = export.review_json(completed)
    assert hashlib.sha256(document).hexdigest() == completed.result_sha256
    assert json.loads(document)["campaign"]["completed_by"]["id"] == reviewer_id
