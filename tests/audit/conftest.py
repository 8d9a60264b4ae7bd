"""Fixtures of the audit tests."""

import pytest

from audit import services
from tests.audit.helpers import ACTOR


@pytest.fixture
def lock_key(workspace):
    """The advisory lock turned on for ``workspace``; its key (shown once)."""
    return services.audit_advisory_lock_enable(workspace=workspace, actor=ACTOR)
