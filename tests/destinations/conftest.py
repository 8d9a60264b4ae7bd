"""Fixtures of the destinations tests: the local platform servers, an ingestion key, a
signed-in dashboard client and production settings."""

import base64

import pytest

from destinations.local_platforms.server import LocalPlatforms
from workspaces.models import ApiKeyRole


@pytest.fixture(scope="module")
def _platform_servers():
    """One set of local platform servers per test module (starting them takes a thread and
    a port); ``platforms`` resets what they remember before each test."""
    with LocalPlatforms() as running:
        yield running


@pytest.fixture
def platforms(_platform_servers):
    """The local Meta, TikTok, GA4 and webhook servers, with no requests received and their
    default behaviour."""
    _platform_servers.server.reset()
    return _platform_servers


@pytest.fixture
def token(workspace, make_api_key):
    """An ingestion (write) key's token for ``workspace``."""
    return make_api_key(workspace, role=ApiKeyRole.WRITE)[1]


@pytest.fixture
def signed_in(client, admin_user):
    """The test client, signed in to the dashboard as ``workspace``'s admin."""
    client.force_login(admin_user)
    return client


@pytest.fixture
def production(settings):
    """Production mode: loopback refused (production's default) and a key ring of its own."""
    settings.IS_PRODUCTION = True
    settings.EGRESS_ALLOW_LOOPBACK = False
    settings.TRACKLAYER_KEYRING = "k1:" + base64.b64encode(b"k" * 32).decode()
