"""Fixtures of the workspaces tests."""

import pytest

from tests.workspaces.helpers import Authenticator


@pytest.fixture
def staff(admin_user, workspace):
    """``admin_user`` (the admin of ``workspace``), made staff and superuser."""
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save(update_fields=["is_staff", "is_superuser"])
    return admin_user


@pytest.fixture
def second_process(transactional_db):
    authenticator = Authenticator()
    yield authenticator
    authenticator.close()
