"""The API reference renders in a browser, from the app's own assets, under its CSP."""

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_api_reference_lists_the_ingestion_endpoints(page):
    page.goto("/v1/docs")

    page.get_by_text("/v1/track", exact=True).first.wait_for()
    assert page.get_by_text("/v1/events", exact=True).count() >= 1
    assert page.get_by_text("TrackLayer API").count() >= 1
