"""Privacy → Retention (issue 15): the windows, editable by admins (audited) and read-only for
everyone else; the last purge with its region and counts, the next run, and what is past its
window now. htmx swaps the panel (422 with the errors on their fields); without JavaScript the
form posts and redirects."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from destinations.models import IngestionSettings
from destinations.retention import purge, selectors
from destinations.retention.selectors import purge_schedule, retention_backlog
from tests.audit_entries import audit_count, last_entry
from tests.destinations.factories import DeliveryFactory, DestinationFactory
from tests.factories import MembershipFactory, WorkspaceFactory, event_with_operational_data
from workspaces.models import Role

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
WINDOWS = ("events_retention_days", "operational_retention_days", "delivery_retention_days")


def days(n: int) -> timedelta:
    return timedelta(days=n)


def windows(workspace) -> tuple[int, int, int]:
    current = IngestionSettings.objects.filter(workspace=workspace).first()
    if current is None:
        return (180, 30, 90)
    return tuple(getattr(current, name) for name in WINDOWS)


def form(events=400, operational=14, deliveries=60) -> dict:
    return dict(zip(WINDOWS, (events, operational, deliveries), strict=True))


@pytest.fixture
def url(workspace):
    return reverse("destinations:retention", args=[workspace.slug])


def test_the_route_is_under_privacy(workspace, url):
    assert url == f"/w/{workspace.slug}/privacy/retention/"


# --- Admins edit, audited ----------------------------------------------------------------------


def test_an_admin_changes_the_windows_and_the_change_is_audited(client, workspace, admin_user, url):
    client.force_login(admin_user)

    saved = client.post(url, form())

    assert saved.status_code == 302 and saved["Location"] == url
    assert windows(workspace) == (400, 14, 60)
    entry = last_entry(workspace)
    assert entry["event_type"] == "ingestion.settings_updated"
    assert entry["payload"]["changes"] == {
        "events_retention_days": {"before": 180, "after": 400},
        "operational_retention_days": {"before": 30, "after": 14},
        "delivery_retention_days": {"before": 90, "after": 60},
    }
    assert "Retention saved." in client.get(url).content.decode()


def test_saving_the_same_windows_records_nothing(client, workspace, admin_user, url):
    client.force_login(admin_user)
    before = audit_count(workspace)

    assert client.post(url, form(180, 30, 90)).status_code == 302

    assert audit_count(workspace) == before


def test_with_htmx_the_panel_is_swapped_in_place(client, workspace, admin_user, url):
    client.force_login(admin_user)

    saved = client.post(url, form(), **HTMX)

    body = saved.content.decode()
    assert saved.status_code == 200
    assert body.startswith('<div id="retention"') and "<html" not in body
    assert "Retention saved." in body and 'value="400"' in body


def test_field_errors_answer_422_in_place_and_change_nothing(client, workspace, admin_user, url):
    client.force_login(admin_user)
    before = audit_count(workspace)

    refused = client.post(url, form(events=0, operational=40), **HTMX)
    without_js = client.post(url, form(events=0, operational=40))

    body = refused.content.decode()
    assert refused.status_code == without_js.status_code == 422
    assert body.startswith('<div id="retention"')
    assert body.count("field-invalid") == 2
    assert 'name="events_retention_days"' in body and 'value="0"' in body  # kept as typed
    assert "<html" in without_js.content.decode() and "field-invalid" in without_js.content.decode()
    assert windows(workspace) == (180, 30, 90)
    assert audit_count(workspace) == before


@pytest.mark.parametrize(
    ("value", "status"),
    [
        ("abc", 422),
        ("99999999999999999999999", 422),
        ("-5", 422),
        ("", 422),
        ("1e3", 422),
        ("3651", 422),
        ("7\x00", 400),  # a NUL byte is refused before any view, as everywhere
    ],
    ids=repr,
)
def test_hostile_windows_are_refused(client, workspace, admin_user, url, value, status):
    client.force_login(admin_user)

    answer = client.post(url, {**form(), "events_retention_days": value})

    assert answer.status_code == status
    if status == 422:
        assert "field-invalid" in answer.content.decode()
    assert windows(workspace) == (180, 30, 90)


# --- Everyone else reads ----------------------------------------------------------------------


def test_viewers_see_the_windows_read_only(client, workspace, viewer_user, url):
    client.force_login(viewer_user)

    page = client.get(url).content.decode()

    assert 'data-testid="retention-settings"' in page
    assert "disabled" in page and "Save retention" not in page
    assert 'data-testid="retention-read-only"' in page
    assert 'value="180"' in page


@pytest.mark.parametrize("member", ["viewer_user", "editor_user"])
def test_viewers_and_editors_cannot_post(client, workspace, url, member, request):
    client.force_login(request.getfixturevalue(member))
    before = audit_count(workspace)

    answers = [client.post(url, form()), client.post(url, form(events=0), **HTMX)]

    # refused before the form is read: no validation answer for who may not change it
    assert [answer.status_code for answer in answers] == [403, 403]
    assert windows(workspace) == (180, 30, 90)
    assert audit_count(workspace) == before


def test_another_workspaces_member_finds_nothing(client, workspace, other_admin_user, url):
    client.force_login(other_admin_user)

    assert client.get(url).status_code == 404
    assert client.post(url, form()).status_code == 404
    assert windows(workspace) == (180, 30, 90)


# --- The last purge, the next one, what is past its window -------------------------------------


def test_the_page_shows_the_last_purge_with_its_region_and_counts(
    client, admin_user, viewer_user, system_actor
):
    eu = WorkspaceFactory(name="Europa", owner=admin_user, region="eu")
    MembershipFactory(workspace=eu, user=viewer_user, role=Role.VIEWER)
    for i in range(3):
        event_with_operational_data(eu, f"old-{i}", timezone.now() - days(200))
    event_with_operational_data(eu, "ops", timezone.now() - days(31))
    purge.retention_purge(workspace=eu, actor=system_actor)
    client.force_login(viewer_user)

    page = client.get(reverse("destinations:retention", args=[eu.slug])).content.decode()

    assert 'data-testid="last-purge"' in page and "in region <strong>eu</strong>" in page
    assert 'data-testid="purged-events">3<' in page
    assert 'data-testid="purged-operational">4<' in page
    assert 'data-testid="purged-message_ids">4<' in page
    assert 'data-testid="past-events">0<' in page


def test_before_any_purge_the_page_says_so(client, admin_user, url):
    client.force_login(admin_user)

    page = client.get(url).content.decode()

    assert "No purge has run for this workspace yet." in page
    assert 'data-testid="next-purge"' in page and "every hour" in page


def test_what_is_past_each_window_is_counted_in_the_region(admin_user):
    eu = WorkspaceFactory(name="Europa", owner=admin_user, region="eu")
    other = WorkspaceFactory(name="Other", owner=admin_user, region="eu")
    now = timezone.now()
    hook = DestinationFactory(workspace=eu)
    old = event_with_operational_data(eu, "old", now - days(181))
    event_with_operational_data(eu, "ops", now - days(31))
    event_with_operational_data(eu, "fresh", now - days(1))
    event_with_operational_data(other, "not-ours", now - days(400))
    DeliveryFactory(destination=hook, event=old, status="delivered", created_at=now - days(91))
    still_trying = DestinationFactory(workspace=eu)
    DeliveryFactory(
        destination=still_trying, event=old, status="pending", created_at=now - days(91)
    )

    backlog = retention_backlog(workspace=eu, now=now)

    assert backlog.known
    assert backlog.counts == {"events": 1, "operational": 2, "deliveries": 1, "rejected": 0}


def test_the_estimate_stops_at_its_cap(client, workspace, admin_user, url, monkeypatch):
    monkeypatch.setattr(selectors, "BACKLOG_CAP", 2)
    for i in range(4):
        event_with_operational_data(workspace, f"old-{i}", timezone.now() - days(200))
    client.force_login(admin_user)

    backlog = retention_backlog(workspace=workspace)
    page = client.get(url).content.decode()

    assert backlog.cap == 2 and backlog.counts["events"] == 3
    assert 'data-testid="past-events">more than 2<' in page


def test_an_estimate_that_takes_too_long_is_not_shown(workspace, monkeypatch):
    monkeypatch.setattr(selectors, "BACKLOG_TIMEOUT_MS", 10)
    monkeypatch.setattr(selectors, "_BACKLOG_SQL", "SELECT pg_sleep(1), 0, 0")

    backlog = retention_backlog(workspace=workspace)

    assert not backlog.known and backlog.counts == {}
    monkeypatch.undo()  # the region's connection is usable again, without the timeout
    assert retention_backlog(workspace=workspace).known


def test_the_next_run_comes_from_beats_stored_schedule():
    now = timezone.now()
    assert purge_schedule(now=now).next_run_at is None  # beat has not started yet
    every = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.HOURS)
    PeriodicTask.objects.create(
        name="events-purge",
        task=selectors.PURGE_TASK,
        interval=every,
        last_run_at=now - timedelta(minutes=20),
    )

    schedule = purge_schedule(now=now)

    assert schedule.every_label == "hour"
    assert timedelta(minutes=39) < schedule.next_run_at - now <= timedelta(minutes=40, seconds=5)
