"""A marketer reads the Overview's figures, switches its window, follows the open anomalies'
tile to the anomaly behind it and acknowledges it — in a real browser, under the dashboard's
CSP (the window picker and the buttons are htmx, no inline script)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from destinations.metrics.writer import Figures, figures_write
from monitoring.anomalies.models import Anomaly, AnomalyStatus
from tests.audit_entries import audit_entries
from tests.e2e.helpers import open_demo
from workspaces.management.commands.seed_demo import DEMO_SLUG
from workspaces.models import Workspace
from workspaces.regions import workspace_db

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _figures(workspace, *, received: int, rejected: int, minutes_ago: int) -> None:
    at = timezone.now() - timedelta(minutes=minutes_ago)
    figures = Figures()
    figures.add(workspace_id=workspace.pk, at=at, kind="events.received", value=received)
    figures.add(
        workspace_id=workspace.pk,
        at=at,
        kind="events.accepted",
        subject="Order Completed",
        value=received - rejected,
    )
    figures.add(
        workspace_id=workspace.pk,
        at=at,
        kind="events.rejected",
        subject="invalid_timestamp",
        value=rejected,
    )
    figures_write(figures, using=workspace_db(workspace))


def figure(page, name: str) -> str:
    return page.locator(f"#overview-figures [data-figure={name}] strong").inner_text()


def test_overview_window_and_an_anomaly_acknowledged(page):
    open_demo(page)
    workspace = Workspace.objects.get(slug=DEMO_SLUG)
    _figures(workspace, received=40, rejected=4, minutes_ago=10)  # inside the last hour
    _figures(workspace, received=60, rejected=0, minutes_ago=5 * 60)  # inside 24 h only
    anomaly = Anomaly.objects.create(
        workspace=workspace,
        kind="volume_drop",
        subject="event:Order Completed",
        severity="medium",
        summary="Order Completed fell to 2 a minute against 30 usually.",
        evidence={"observed": 2, "baseline": {"method": "same_time_of_day"}},
        started_at=timezone.now(),
        last_seen_at=timezone.now(),
    )

    page.reload()  # the figures and the anomaly were written after the overview was drawn
    assert page.locator("#overview-figures").get_attribute("data-window") == "24h"
    received_24h = int(figure(page, "received").replace(",", ""))
    assert received_24h >= 100
    chart = page.get_by_test_id("events-chart").locator("svg.chart-svg[role=img]")
    assert chart.count() == 1 and chart.locator("rect.bar").count() >= 2  # two hours with events

    page.get_by_test_id("window-picker").get_by_role("link", name="Last hour").click()
    page.locator("#overview-figures[data-window='1h']").wait_for()
    assert page.url.endswith("?window=1h")  # pushed, so the period survives a reload
    assert int(figure(page, "received").replace(",", "")) == received_24h - 60
    assert "invalid_timestamp" in page.get_by_test_id("rejected-reasons").inner_text()

    tile = page.get_by_test_id("anomalies-open")
    assert tile.locator("strong").inner_text() == "1"
    tile.click()
    page.get_by_role("link", name=anomaly.summary).click()
    page.get_by_test_id("acknowledge").click()
    page.get_by_test_id("anomaly-status").filter(has_text="Acknowledged").wait_for()

    anomaly.refresh_from_db()
    assert anomaly.status == AnomalyStatus.ACKNOWLEDGED
    types = [entry["event_type"] for entry in audit_entries(workspace)]
    assert types.count("anomaly.acknowledged") == 1
