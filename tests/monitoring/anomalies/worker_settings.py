"""The test settings with the anomalies' routes (tests.monitoring.anomalies.urls), for the
end-to-end test's worker until the lead merges the URL diffs."""

from tests.settings import *  # noqa: F403

ROOT_URLCONF = "tests.monitoring.anomalies.urls"
