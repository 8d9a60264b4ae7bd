"""Fixtures of the incidents tests: destinations made through their service, incidents
opened through ours."""

import pytest

from audit import services as audit_services
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


@pytest.fixture
def queued_while_locked(monkeypatch):
    """The advisory lock's queue with the incidents' event types in it
    (``services.QUEUED_WHILE_LOCKED``) — as ``audit.advisory`` holds them once the lead has
    merged them there; a no-op from then on."""
    monkeypatch.setattr(
        audit_services,
        "QUEUED_WHILE_LOCKED",
        audit_services.QUEUED_WHILE_LOCKED | services.QUEUED_WHILE_LOCKED,
    )
