"""Access review campaigns end to end through the services: open (snapshot, audited), decide
(validation, self-review), complete (applies role changes, removals and revocations through
the workspaces services, each with its own entry; refuses undecided items and losing the last
admin), what changed since the previous review, and the public summary."""

import hashlib

import pytest
from django.utils import timezone

from audit.advisory import QUEUED_WHILE_LOCKED
from audit.exceptions import AuditLockedError
from audit.services import audit_advisory_lock_enable
from compliance.access_reviews import export, selectors, services
from compliance.access_reviews.exceptions import AccessReviewInvalidError
from compliance.access_reviews.models import CampaignStatus, Outcome
from tests.audit_entries import audit_entries, last_entry
from tests.compliance.access_reviews.conftest import item_of
from tests.factories import MembershipFactory
from tracklayer.exceptions import ConflictError, PermissionDeniedError
from workspaces import services as workspace_services
from workspaces.exceptions import LastAdminError
from workspaces.models import ApiKey, Membership, Role

pytestmark = pytest.mark.django_db


def _decide_all_confirm(campaign, decide, *, skip=()):
    for item in campaign.items.all():
        if item.subject_id not in skip and not item.decision:
            decide(campaign, item.subject_id, "confirm")


def test_opening_snapshots_every_member_and_active_key_and_audits_it(
    workspace, admin_user, people, keys
):
    campaign = services.access_review_open(workspace=workspace, actor=admin_user)

    subjects = {(i.kind, i.subject_id): i for i in campaign.items.all()}
    assert set(subjects) == {
        ("member", admin_user.public_id),
        ("member", people["editor"].public_id),
        ("member", people["viewer"].public_id),
        ("api_key", keys["storefront"].public_id),
        ("api_key", keys["reporting"].public_id),
    }  # the revoked key is not reviewed
    admin = subjects[("member", admin_user.public_id)]
    assert (admin.role, admin.mfa, admin.email) == ("admin", True, admin_user.email)
    assert subjects[("member", people["editor"].public_id)].mfa is False
    key = subjects[("api_key", keys["reporting"].public_id)]
    assert (key.role, key.key_prefix) == ("admin", keys["reporting"].display_prefix)
    assert campaign.status == CampaignStatus.OPEN and campaign.period.startswith("20")
    assert (campaign.due_at - campaign.opened_at).days == 14

    entry = last_entry(workspace)
    assert entry["event_type"] == "access_review.opened"
    assert entry["resource_id"] == campaign.public_id
    assert entry["payload"]["members"] == 3 and entry["payload"]["api_keys"] == 2
    snapshot = selectors.subjects_snapshot(workspace=workspace, now=campaign.opened_at)
    assert entry["payload"]["snapshot_sha256"] == services.snapshot_sha256(snapshot)
    assert admin_user.email not in str(entry)  # ids in the log, never e-mail addresses


def test_one_open_campaign_at_a_time(workspace, admin_user, campaign):
    with pytest.raises(ConflictError):
        services.access_review_open(workspace=workspace, actor=admin_user)


def test_only_admins_open_and_decide(workspace, editor_user, viewer_user, campaign, decide):
    with pytest.raises(PermissionDeniedError):
        services.access_review_cancel(workspace=workspace, actor=editor_user, campaign=campaign)
    with pytest.raises(PermissionDeniedError):
        decide(campaign, viewer_user.public_id, "confirm", actor=viewer_user)


@pytest.mark.parametrize(
    ("decision", "options", "field"),
    [
        ("approve", {}, "decision"),
        ("change", {"comment": "Moves to reporting"}, "new_role"),
        ("change", {"new_role": "owner", "comment": "x"}, "new_role"),
        ("change", {"new_role": "editor", "comment": "Same role"}, "new_role"),  # editor already
        ("change", {"new_role": "viewer"}, "comment"),
        ("remove", {"comment": "   "}, "comment"),
        ("remove", {"comment": "x" * 2001}, "comment"),
        ("remove", {"comment": "nul\x00"}, "comment"),
        ("confirm", {"new_role": "admin"}, "new_role"),
    ],
)
def test_a_decision_that_cannot_be_taken_names_its_field(
    campaign, decide, people, decision, options, field
):
    with pytest.raises(AccessReviewInvalidError) as refused:
        decide(campaign, people["editor"].public_id, decision, **options)
    assert refused.value.field == field
    assert refused.value.status == 400
    assert not item_of(campaign, people["editor"].public_id).decision


def test_an_api_keys_role_cannot_be_changed(campaign, decide, keys):
    with pytest.raises(AccessReviewInvalidError) as refused:
        decide(campaign, keys["storefront"].public_id, "change", new_role="viewer", comment="x")
    assert refused.value.field == "decision"


def test_an_unknown_item_is_refused(workspace, admin_user, campaign, other_workspace):
    with pytest.raises(AccessReviewInvalidError) as refused:
        services.access_review_decide(
            workspace=workspace,
            actor=admin_user,
            campaign=campaign,
            item_id="ari_doesnotexist",
            decision="confirm",
        )
    assert refused.value.field == "item"


def test_open_decide_complete_applies_every_decision_with_its_audit_entries(
    workspace, admin_user, people, keys, campaign, decide
):
    editor, viewer = people["editor"], people["viewer"]
    decide(campaign, editor.public_id, "change", new_role="viewer", comment="No longer edits")
    decide(campaign, viewer.public_id, "remove", comment="Left the company")
    decide(campaign, keys["reporting"].public_id, "remove", comment="Unused admin key")
    _decide_all_confirm(campaign, decide)
    decided = audit_entries(workspace, "access_review.decided")
    assert len(decided) == 5
    change = next(e for e in decided if e["payload"]["subject"] == editor.public_id)
    assert change["payload"]["decision"] == "change" and change["payload"]["new_role"] == "viewer"
    assert change["payload"]["comment"] == {
        "sha256": hashlib.sha256(b"No longer edits").hexdigest(),
        "length": 15,
    }
    assert "No longer edits" not in str(decided)  # what people wrote stays out of the log

    completed = services.access_review_complete(
        workspace=workspace, actor=admin_user, campaign=campaign
    )

    assert Membership.objects.get(workspace=workspace, user=editor).role == Role.VIEWER
    assert not Membership.objects.filter(workspace=workspace, user=viewer).exists()
    assert ApiKey.objects.get(pk=keys["reporting"].pk).revoked_at is not None
    assert ApiKey.objects.get(pk=keys["storefront"].pk).revoked_at is None
    outcomes = {i.subject_id: i.outcome for i in completed.items.all()}
    assert outcomes[editor.public_id] == Outcome.ROLE_CHANGED
    assert outcomes[viewer.public_id] == Outcome.REMOVED
    assert outcomes[keys["reporting"].public_id] == Outcome.REVOKED
    assert outcomes[admin_user.public_id] == Outcome.KEPT

    types = [e["event_type"] for e in audit_entries(workspace)]
    tail = types[types.index("access_review.decided") :]
    assert {"member.role_changed", "member.removed", "api_key.revoked"} <= set(tail)
    assert tail[-1] == "access_review.completed"
    entry = last_entry(workspace)
    assert entry["actor"] == f"user:{admin_user.public_id}"
    assert entry["payload"]["counts"]["confirmed"] == 2
    assert entry["payload"]["counts"]["changed"] == 1
    assert entry["payload"]["counts"]["removed"] == 2
    # The result document hashes to what the log holds, byte for byte
    assert entry["payload"]["result_sha256"] == completed.result_sha256
    assert hashlib.sha256(export.review_json(completed)).hexdigest() == completed.result_sha256
    assert completed.status == CampaignStatus.COMPLETED
    assert completed.completed_by == admin_user and completed.completed_by_name == "Ada Admin"


def test_completing_is_refused_while_an_item_is_undecided(
    workspace, admin_user, people, campaign, decide
):
    _decide_all_confirm(campaign, decide, skip={people["viewer"].public_id})
    with pytest.raises(ConflictError, match="1 item still undecided"):
        services.access_review_complete(workspace=workspace, actor=admin_user, campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.OPEN


def test_removing_the_last_admin_is_refused_on_the_decision(
    workspace, admin_user, people, campaign, decide
):
    with pytest.raises(LastAdminError) as refused:
        decide(campaign, admin_user.public_id, "remove", comment="Leaving")
    assert refused.value.field == "decision"
    with pytest.raises(LastAdminError):
        decide(campaign, admin_user.public_id, "change", new_role="editor", comment="Steps down")


def test_a_promotion_in_the_same_review_lets_the_last_admin_step_down(
    workspace, admin_user, people, campaign, decide
):
    editor = people["editor"]
    decide(campaign, editor.public_id, "change", new_role="admin", comment="Takes over")
    decide(campaign, admin_user.public_id, "change", new_role="viewer", comment="Steps down")
    _decide_all_confirm(campaign, decide)

    services.access_review_complete(workspace=workspace, actor=admin_user, campaign=campaign)

    roles = dict(
        Membership.objects.filter(workspace=workspace).values_list("user__public_id", "role")
    )
    assert roles[editor.public_id] == "admin" and roles[admin_user.public_id] == "viewer"


def test_completing_refuses_when_the_admins_left_meanwhile(
    workspace, admin_user, system_actor, people, campaign, decide
):
    # Another admin joined before the review; the review removes the original admin
    second = MembershipFactory(workspace=workspace, role=Role.ADMIN).user
    services.access_review_cancel(workspace=workspace, actor=admin_user, campaign=campaign)
    campaign = services.access_review_open(workspace=workspace, actor=admin_user)
    decide(campaign, admin_user.public_id, "remove", comment="Handing over")
    _decide_all_confirm(campaign, decide)
    # …and then the second admin is demoted outside the review
    workspace_services.membership_change_role(
        workspace=workspace,
        actor=system_actor,
        membership=Membership.objects.get(workspace=workspace, user=second),
        role=Role.EDITOR,
    )

    with pytest.raises(LastAdminError):
        services.access_review_complete(workspace=workspace, actor=admin_user, campaign=campaign)
    assert Membership.objects.filter(workspace=workspace, user=admin_user).exists()


def test_deciding_on_ones_own_membership_is_flagged_as_self_review(
    workspace, admin_user, people, campaign, decide
):
    own = decide(campaign, admin_user.public_id, "confirm")
    other = decide(campaign, people["editor"].public_id, "confirm")

    assert own.self_review is True and other.self_review is False
    assert last_entry(workspace)["payload"]["self_review"] is False
    entries = audit_entries(workspace, "access_review.decided")
    assert entries[0]["payload"]["self_review"] is True
    assert selectors.campaign_counts(campaign.items.all()).self_reviews == 1


def test_a_member_gone_before_completion_is_recorded_as_gone(
    workspace, admin_user, system_actor, people, campaign, decide
):
    viewer = people["viewer"]
    decide(campaign, viewer.public_id, "remove", comment="Left")
    _decide_all_confirm(campaign, decide)
    workspace_services.membership_remove(
        workspace=workspace,
        actor=system_actor,
        membership=Membership.objects.get(workspace=workspace, user=viewer),
    )

    completed = services.access_review_complete(
        workspace=workspace, actor=admin_user, campaign=campaign
    )
    assert item_of(completed, viewer.public_id).outcome == Outcome.GONE


def test_what_changed_since_the_previous_review(
    workspace, admin_user, system_actor, people, keys, campaign, decide, make_api_key
):
    editor, viewer = people["editor"], people["viewer"]
    decide(campaign, viewer.public_id, "remove", comment="Left")  # the review's own removal
    _decide_all_confirm(campaign, decide)
    first = services.access_review_complete(
        workspace=workspace, actor=admin_user, campaign=campaign
    )
    # Outside a review: a newcomer, a promotion, a revoked key
    newcomer = MembershipFactory(workspace=workspace, role=Role.VIEWER).user
    workspace_services.membership_change_role(
        workspace=workspace,
        actor=system_actor,
        membership=Membership.objects.get(workspace=workspace, user=editor),
        role=Role.ADMIN,
    )
    workspace_services.api_key_revoke(
        workspace=workspace, actor=system_actor, key=keys["storefront"]
    )

    second = services.access_review_open(workspace=workspace, actor=admin_user)
    changes = selectors.changes_since_previous(workspace=workspace, campaign=second)

    assert changes.previous == first
    assert [i.subject_id for i in changes.added] == [newcomer.public_id]
    assert [(c["item"].subject_id, c["before"], c["after"]) for c in changes.role_changed] == [
        (editor.public_id, "editor", "admin")
    ]
    # The viewer the first review removed is not "removed since": the review did it
    assert [r["subject_id"] for r in changes.removed] == [keys["storefront"].public_id]
    document = export.review_document(second)
    assert document["changes_since_previous"]["previous_campaign"] == first.public_id
    assert document["changes_since_previous"]["added"] == [newcomer.public_id]
    by_subject = {i["subject_id"]: i for i in document["items"]}
    assert by_subject[editor.public_id]["change_since_previous"] == "role_changed"
    assert by_subject[admin_user.public_id]["change_since_previous"] is None


def test_confirm_all_unchanged_skips_changes_and_the_reviewers_own(
    workspace, admin_user, people, keys, campaign, decide
):
    with pytest.raises(ConflictError, match="first review"):
        services.access_review_confirm_unchanged(
            workspace=workspace, actor=admin_user, campaign=campaign
        )
    _decide_all_confirm(campaign, decide)
    services.access_review_complete(workspace=workspace, actor=admin_user, campaign=campaign)
    newcomer = MembershipFactory(workspace=workspace, role=Role.VIEWER).user
    second = services.access_review_open(workspace=workspace, actor=admin_user)

    count = services.access_review_confirm_unchanged(
        workspace=workspace, actor=admin_user, campaign=second
    )

    assert count == 4  # editor, viewer, two keys: not the newcomer, not the admin's own
    undecided = {i.subject_id for i in second.items.filter(decision="")}
    assert undecided == {newcomer.public_id, admin_user.public_id}
    entry = last_entry(workspace)
    assert entry["event_type"] == "access_review.decided" and len(entry["payload"]["items"]) == 4


def test_cancel_applies_nothing(workspace, admin_user, people, campaign, decide):
    decide(campaign, people["viewer"].public_id, "remove", comment="Left")
    services.access_review_cancel(workspace=workspace, actor=admin_user, campaign=campaign)

    assert Membership.objects.filter(workspace=workspace, user=people["viewer"]).exists()
    assert last_entry(workspace)["event_type"] == "access_review.cancelled"
    with pytest.raises(ConflictError):
        decide(campaign, people["editor"].public_id, "confirm")


def test_review_summary_is_the_contract_for_the_controls_page(
    workspace, admin_user, people, campaign, decide
):
    assert selectors.review_summary(workspace=workspace) is None
    decide(campaign, people["viewer"].public_id, "remove", comment="Left")
    decide(campaign, people["editor"].public_id, "change", new_role="viewer", comment="Reads")
    _decide_all_confirm(campaign, decide)  # the admin confirms their own: a self-review
    services.access_review_complete(workspace=workspace, actor=admin_user, campaign=campaign)

    summary = selectors.review_summary(workspace=workspace)

    assert summary["reviewer_name"] == "Ada Admin"
    assert (summary["confirmed"], summary["changed"], summary["removed"]) == (3, 1, 1)
    # removed 1 + changed 1 + self-review 1 + members without MFA 2 (editor, viewer)
    assert summary["findings"] == 5
    assert summary["completed_at"] <= timezone.now()
    assert summary["next_due"] > timezone.now().date()
    assert summary["url"] == f"/w/{workspace.slug}/compliance/access-reviews/{campaign.public_id}/"
    assert selectors.latest_completed(workspace=workspace) == campaign


def test_reviews_are_refused_not_queued_under_the_advisory_lock():
    # They change access: the lock must stop them (docs/adr/0009).
    assert not any(t.startswith("access_review.") for t in QUEUED_WHILE_LOCKED)


def test_a_refused_completion_applies_nothing(
    workspace, admin_user, people, keys, campaign, decide
):
    # The key's revocation could go on under the advisory lock (it only narrows); the role
    # change and the completion cannot: the completion is one transaction, so nothing lands.
    decide(campaign, keys["reporting"].public_id, "remove", comment="Unused admin key")
    decide(campaign, people["editor"].public_id, "change", new_role="viewer", comment="Reads")
    _decide_all_confirm(campaign, decide)
    audit_advisory_lock_enable(workspace=workspace, actor=admin_user)

    with pytest.raises(AuditLockedError):
        services.access_review_complete(workspace=workspace, actor=admin_user, campaign=campaign)

    assert ApiKey.objects.get(pk=keys["reporting"].pk).revoked_at is None
    assert Membership.objects.get(workspace=workspace, user=people["editor"]).role == Role.EDITOR
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.OPEN and campaign.result_sha256 == ""
    assert not campaign.items.exclude(outcome="").exists()
