"""Fixtures of the anomalies tests: minute figures written through the real writer, in the
workspace's region."""

from datetime import UTC, datetime, timedelta

import pytest

from destinations.metrics.writer import Figures, figures_write

# The local platform servers and an ingestion key, as the destinations tests have them.
from tests.destinations.conftest import _platform_servers, platforms, token  # noqa: F401
from workspaces.regions import data_atomic, workspace_db

# A fixed "now" in the middle of a minute: the detectors' clock is the run's argument.
NOW = datetime(2026, 11, 23, 14, 0, 30, tzinfo=UTC)


@pytest.fixture
def write_figures():
    """``write_figures(workspace, {minutes_ago: {(kind, subject): value}}, now=NOW)``."""

    def write(workspace, by_minute: dict, *, now=NOW):
        figures = Figures()
        for ago, values in by_minute.items():
            for (kind, subject), value in values.items():
                figures.add(
                    workspace_id=workspace.pk,
                    at=now - timedelta(minutes=ago),
                    kind=kind,
                    subject=subject,
                    value=value,
                )
        with data_atomic(workspace):
            figures_write(figures, using=workspace_db(workspace))

    return write
