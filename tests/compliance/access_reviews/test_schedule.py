"""The quarterly schedule: the daily task opens one scheduled campaign per active workspace
and calendar quarter, e-mails its admins, and running it again opens nothing more."""

import datetime as dt

import pytest
from django.conf import settings
from django.core import mail

from audit.services import audit_advisory_lock_enable
from compliance.access_reviews import services
from compliance.access_reviews.models import Campaign, CampaignStatus, Trigger
from compliance.access_reviews.periods import next_quarter_start, quarter_label, quarter_start
from compliance.access_reviews.tasks import access_reviews_open_due_task
from tests.audit_entries import last_entry
from tests.factories import WorkspaceFactory
from workspaces import services as workspace_services

pytestmark = pytest.mark.django_db

NOV = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)


def test_quarters():
    assert quarter_label(NOV) == "2026-Q4"
    assert quarter_start(NOV) == dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
    assert next_quarter_start(NOV) == dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    assert quarter_label(dt.date(2027, 3, 31)) == "2027-Q1"


def test_the_daily_run_opens_one_review_per_workspace_and_quarter(
    workspace, admin_user, other_workspace, other_admin_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        report = services.access_reviews_open_due(now=NOV)

    assert report == {"opened": 2, "failed": []}
    campaign = Campaign.objects.get(workspace=workspace)
    assert (campaign.trigger, campaign.period) == (Trigger.SCHEDULED, "2026-Q4")
    assert campaign.due_at == NOV + dt.timedelta(days=14)
    assert campaign.opened_by is None and campaign.opened_by_label == "system:access_reviews"
    entry = last_entry(workspace)
    assert entry["event_type"] == "access_review.opened"
    assert entry["actor"] == "system:access_reviews"
    assert entry["payload"]["trigger"] == "scheduled"
    # The admins are told, each workspace's own
    assert sorted(m.to for m in mail.outbox) == sorted(
        [[admin_user.email], [other_admin_user.email]]
    )
    message = next(m for m in mail.outbox if m.to == [admin_user.email])
    assert "2026-Q4" in message.subject
    assert (
        settings.TRACKLAYER_BASE_URL
        + f"/w/{workspace.slug}/compliance/access-reviews/{campaign.public_id}/"
        in message.body
    )

    # Idempotent: the same day again, later in the quarter, and with the review completed
    with django_capture_on_commit_callbacks(execute=True):
        assert services.access_reviews_open_due(now=NOV)["opened"] == 0
        assert services.access_reviews_open_due(now=NOV + dt.timedelta(days=30))["opened"] == 0
    assert Campaign.objects.filter(workspace=workspace).count() == 1
    assert len(mail.outbox) == 2


def test_the_task_wraps_the_service(workspace, admin_user):
    assert access_reviews_open_due_task() == {"opened": 1, "failed": []}
    assert access_reviews_open_due_task() == {"opened": 0, "failed": []}


def test_an_on_demand_review_this_quarter_counts_and_next_quarter_opens_again(
    workspace, admin_user
):
    services.access_review_open(workspace=workspace, actor=admin_user, now=NOV)
    assert services.access_review_open_scheduled(workspace=workspace, now=NOV) is None

    # Still open when the next quarter starts: one open review at a time
    january = dt.datetime(2027, 1, 2, tzinfo=dt.UTC)
    assert services.access_review_open_scheduled(workspace=workspace, now=january) is None
    open_one = Campaign.objects.get(workspace=workspace)
    services.access_review_cancel(workspace=workspace, actor=admin_user, campaign=open_one)

    campaign = services.access_review_open_scheduled(workspace=workspace, now=january)
    assert campaign is not None and campaign.period == "2027-Q1"


def test_a_cancelled_scheduled_review_is_not_reopened_the_same_quarter(workspace, admin_user):
    campaign = services.access_review_open_scheduled(workspace=workspace, now=NOV)
    services.access_review_cancel(workspace=workspace, actor=admin_user, campaign=campaign)

    assert services.access_review_open_scheduled(workspace=workspace, now=NOV) is None
    assert Campaign.objects.get(workspace=workspace).status == CampaignStatus.CANCELLED


def test_deleted_and_locked_workspaces_are_skipped_without_stopping_the_others(
    workspace, admin_user, other_workspace, other_admin_user
):
    gone = WorkspaceFactory(name="Gone", owner=admin_user)
    workspace_services.workspace_delete(workspace=gone, actor=admin_user, confirm_slug=gone.slug)
    audit_advisory_lock_enable(workspace=workspace, actor=admin_user)

    report = services.access_reviews_open_due(now=NOV)

    assert report == {"opened": 1, "failed": [workspace.public_id]}
    assert not Campaign.objects.filter(workspace__in=[workspace, gone]).exists()
    assert Campaign.objects.filter(workspace=other_workspace).count() == 1


def test_a_mail_server_that_refuses_does_not_stop_the_run(
    workspace,
    admin_user,
    other_workspace,
    other_admin_user,
    django_capture_on_commit_callbacks,
    monkeypatch,
    caplog,
):
    real = services.send_mail

    def refusing(*, recipient_list, **kwargs):
        if recipient_list == [admin_user.email]:
            raise ConnectionRefusedError("smtp down")
        return real(recipient_list=recipient_list, **kwargs)

    monkeypatch.setattr(services, "send_mail", refusing)
    with django_capture_on_commit_callbacks(execute=True):
        report = services.access_reviews_open_due(now=NOV)

    assert report == {"opened": 2, "failed": []}
    assert [m.to for m in mail.outbox] == [[other_admin_user.email]]
    assert "smtp down" in caplog.text
