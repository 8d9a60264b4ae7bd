"""The Overview at /w/<slug>/: each window's figures and charts, from the workspace's own
minute figures only; the old overview's members, keys and audit entries kept; viewers see it."""

import re
from datetime import timedelta

import pytest
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from destinations.metrics import (
    DELIVERY_BLOCKED,
    DELIVERY_DEAD,
    DELIVERY_DEAD_REASON,
    DELIVERY_DELIVERED,
    DELIVERY_FAILED,
    DELIVERY_LATENCY,
    EVENTS_ACCEPTED,
    EVENTS_DUPLICATE,
    EVENTS_RECEIVED,
    EVENTS_REJECTED,
    EVENTS_SUPPRESSED,
)
from destinations.metrics.writer import Figures, figures_write
from tests.destinations.factories import DestinationFactory
from workspaces.regions import workspace_db

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def page(workspace, window=None) -> str:
    url = reverse("monitoring:overview", args=[workspace.slug])
    return f"{url}?window={window}" if window else url


def seed(workspace, destination, *, scale: int = 1, age=timedelta(0)):
    """A minute of figures ``age`` ago: every event and delivery kind, ``scale`` times."""
    at = timezone.now() - age
    figures = Figures()
    for kind, subject, value in (
        (EVENTS_RECEIVED, "key_x", 20),
        (EVENTS_ACCEPTED, "Order Completed", 12),
        (EVENTS_ACCEPTED, "Viewed", 2),
        (EVENTS_REJECTED, "invalid_timestamp", 3),
        (EVENTS_REJECTED, "required", 1),
        (EVENTS_SUPPRESSED, "", 1),
        (EVENTS_DUPLICATE, "", 1),
        (DELIVERY_DELIVERED, destination.public_id, 8),
        (DELIVERY_FAILED, destination.public_id, 5),
        (DELIVERY_BLOCKED, destination.public_id, 2),
        (DELIVERY_DEAD, destination.public_id, 2),
        (DELIVERY_DEAD_REASON, f"{destination.public_id}|unsendable", 2),
    ):
        figures.add(
            workspace_id=workspace.pk, at=at, kind=kind, subject=subject, value=value * scale
        )
    for ms in (40, 60, 80, 900):
        figures.add_latency(
            workspace_id=workspace.pk,
            at=at,
            kind=DELIVERY_LATENCY,
            subject=destination.public_id,
            ms=ms,
        )
    with transaction.atomic(using=workspace_db(workspace)):
        figures_write(figures, using=workspace_db(workspace))


def figure(html: str, name: str) -> int:
    match = re.search(rf'data-figure="{name}"><strong>(\d+)</strong>', html)
    assert match, f"no {name} figure"
    return int(match.group(1))


@pytest.fixture
def hook(workspace):
    return DestinationFactory(workspace=workspace, type="webhook", name="Shop hook")


@pytest.fixture
def foreign(other_workspace):
    destination = DestinationFactory(
        workspace=other_workspace, type="webhook", name="Globex secret hook"
    )
    seed(other_workspace, destination, scale=1000)
    return destination


@pytest.mark.parametrize("window", ["1h", "24h", "7d"])
def test_each_window_shows_the_workspaces_figures_and_charts(
    client, admin_user, workspace, hook, foreign, window
):
    seed(workspace, hook)
    seed(workspace, hook, age=timedelta(hours=3))  # in the 24 h and 7 d windows only
    seed(workspace, hook, age=timedelta(days=3))  # in the 7 d window only
    client.force_login(admin_user)

    html = client.get(page(workspace, window)).content.decode()

    times = {"1h": 1, "24h": 2, "7d": 3}[window]
    assert f'data-window="{window}"' in html
    assert figure(html, "received") == 20 * times
    assert figure(html, "accepted") == 14 * times
    assert figure(html, "rejected") == 4 * times
    assert figure(html, "suppressed") == times
    assert figure(html, "duplicates") == times
    assert figure(html, "delivered") == 8 * times
    assert figure(html, "failed") == 5 * times
    assert figure(html, "blocked") == 2 * times
    assert figure(html, "dead") == 2 * times
    # Charts: events, all deliveries, and the destination's own; each with a table.
    for chart in ("events-chart", "deliveries-chart", f"chart-{hook.public_id}"):
        assert f'data-testid="{chart}"' in html
        assert f'id="{chart}-title"' in html
    assert "The numbers as a table" in html
    # Per destination: success 8 / (8 + 5), consent block rate 2 / (8 + 2 + 2), p95 from the
    # histogram: the slowest of every 4 requests (900 ms) is in the (750, 1000] bucket, and the
    # 95th percentile 80 % of the way into it.
    row = html[html.index(f'data-destination="{hook.public_id}"') :]
    row = row[: row.index("</tr>")]
    assert "61.5 %" in row and "16.7 %" in row and "unsendable" in row
    assert re.search(r'data-testid="p95">(\d+) ms', row).group(1) == "950"
    # The details behind the figures are one click away.
    assert f"?destination={hook.public_id}&amp;status=blocked" in html
    assert "?status=rejected&amp;reason=invalid_timestamp" in html
    # Never the other workspace's.
    assert "Globex" not in html and foreign.public_id not in html
    assert "20000" not in html and "14000" not in html


def test_the_old_overview_is_kept_and_viewers_see_it(client, viewer_user, workspace, hook):
    seed(workspace, hook)
    client.force_login(viewer_user)

    response = client.get(page(workspace))

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-window="24h"' in html  # the default
    assert re.search(r"<strong>\d+</strong><span>members?</span>", html)
    assert "active API key" in html and "audit entries" in html and "Recent activity" in html
    assert 'data-testid="anomalies-open"' in html and 'data-testid="incidents-open"' in html
    assert figure(html, "accepted") == 14


@pytest.mark.parametrize("window", ["", "2h", "7d'><script>", "24H", "x" * 5000])
def test_an_unknown_window_is_the_default_one(client, admin_user, workspace, window):
    client.force_login(admin_user)
    response = client.get(page(workspace), {"window": window})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-window="24h"' in html
    assert "'><script>" not in html


def test_the_window_picker_swaps_the_figures_only(client, admin_user, workspace, hook):
    seed(workspace, hook)
    client.force_login(admin_user)

    html = client.get(page(workspace, "1h"), **HTMX).content.decode()

    assert 'id="overview-figures" data-window="1h"' in html
    assert re.search(r'aria-current="true">\s*Last hour</a>', html)  # the picker says which
    assert "<html" not in html and "Recent activity" not in html
    assert figure(html, "accepted") == 14


def test_the_window_picker_reads_only_the_figures(client, admin_user, workspace, hook):
    """A swap reads what it shows: none of the whole page's tiles (members, keys, audit,
    anomalies, incidents)."""
    client.force_login(admin_user)
    seed(workspace, hook)

    def tables(**extra) -> str:
        with (
            CaptureQueriesContext(connections["default"]) as control,
            CaptureQueriesContext(connections[workspace_db(workspace)]) as region,
        ):
            assert client.get(page(workspace, "1h"), **extra).status_code == 200
        return " ".join(query["sql"] for query in [*control, *region])

    tiles = ("anomalies_anomaly", "incidents_incident", "workspaces_apikey")
    whole = tables()
    assert all(table in whole for table in tiles)
    swap = tables(**HTMX)
    assert not [table for table in tiles if table in swap]
    assert "destinations_minutefigure" in swap


def test_another_workspaces_member_gets_404(client, other_admin_user, workspace):
    client.force_login(other_admin_user)
    assert client.get(page(workspace)).status_code == 404


def test_a_deleted_destination_shows_only_while_its_figures_do(client, admin_user, workspace, hook):
    gone_with_figures = DestinationFactory(workspace=workspace, type="webhook", name="Old hook")
    gone_quiet = DestinationFactory(workspace=workspace, type="webhook", name="Older hook")
    seed(workspace, gone_with_figures)
    gone_with_figures.deleted_at = gone_quiet.deleted_at = timezone.now()
    gone_with_figures.save(update_fields=["deleted_at"])
    gone_quiet.save(update_fields=["deleted_at"])
    client.force_login(admin_user)

    html = client.get(page(workspace, "1h")).content.decode()

    assert f'data-destination="{hook.public_id}"' in html  # live, even without figures
    assert f'data-destination="{gone_with_figures.public_id}"' in html
    assert "Old hook <small" in html and "(deleted)" in html
    assert f'data-destination="{gone_quiet.public_id}"' not in html


def test_the_page_costs_the_same_queries_for_one_destination_or_many(
    client, admin_user, workspace, hook
):
    def queries() -> int:
        with (
            CaptureQueriesContext(connections["default"]) as control,
            CaptureQueriesContext(connections[workspace_db(workspace)]) as region,
        ):
            assert client.get(page(workspace, "24h")).status_code == 200
        return len(control) + len(region)

    client.force_login(admin_user)
    seed(workspace, hook)
    one = queries()
    for n in range(4):
        seed(workspace, DestinationFactory(workspace=workspace, type="webhook", name=f"h{n}"))
    assert queries() == one
