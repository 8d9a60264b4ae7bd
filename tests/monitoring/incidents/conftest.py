"""Fixtures of the incidents tests: destinations made through their service, incidents
opened through ours."""

import pytest

from monitoring.incidents import services

# The local platform servers, as the destinations tests have them.
from tests.destinations.conftest import _platform_servers, platforms  # noqa: F401
from tests.destinations.factories import DestinationFactory


@pytest.fixture
def destination(workspace):
    return DestinationFactory(workspace=workspace, name="Meta CAPI", type="meta_capi")


@pytest.fixture
def incident(workspace, admin_user):
    return services.incident_open(
        workspace=workspace, actor=admin_user, title="Orders not reaching Meta", severity="high"
    )
