"""Shared fixtures: a workspace with one member of each role, a second workspace, API keys.

Two pieces of plumbing come first: letting Django's between-test flush pass the audit log's
append-only triggers, and emptying the cache (where verified API keys live) before each test.
"""

import threading
from http.server import ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.backends.postgresql.operations import DatabaseOperations
from rest_framework.test import APIClient

from audit.models import APPEND_ONLY_TABLES
from destinations.ingestion import runtime
from destinations.ingestion.rate_limit import rate_limit_forget
from destinations.ingestion.store import events_writer_stop
from tests.factories import MembershipFactory, UserFactory, WorkspaceFactory
from tracklayer import http
from workspaces import api_key_cache, services
from workspaces.actors import SystemActor
from workspaces.models import ApiKeyRole, Role


def pytest_collection_modifyitems(items):
    """Every database test may use every database: the control plane and each region's data
    plane (workspaces/regions.py). A test's own ``django_db`` options are kept; only
    ``databases`` is widened, so a test never fails for touching a region it was not told
    about — and a query that names no region still fails, by the router's refusal."""
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker is None:
            if not _DATABASE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
                continue
            args, kwargs = (), {}
        elif marker.kwargs.get("databases"):
            continue
        else:
            args, kwargs = marker.args, marker.kwargs
        item.add_marker(
            pytest.mark.django_db(*args, **{**kwargs, "databases": "__all__"}), append=False
        )


_DATABASE_FIXTURES = {"db", "transactional_db", "live_server", "django_db_reset_sequences"}


@pytest.fixture(scope="session", autouse=True)
def _audit_triggers_yield_to_test_flush(django_db_modify_db_settings):
    """Let ``TransactionTestCase`` (``transactional_db``, ``live_server``) empty the test
    database between tests.

    Django empties the tables with one ``TRUNCATE``, which the audit log's trigger refuses
    (migration 0002). Around that flush, and only on the test database, the triggers are
    switched off and on again *in the flush's own transaction*: a failed flush rolls the
    ``ALTER TABLE`` back with it, so the triggers can never stay off.

    ``ALTER TABLE … DISABLE TRIGGER`` is allowed only to the table's owner. The test role
    creates the test database and so owns its tables; that is the whole reason this works.
    Production runs as a role that does *not* own the audit tables (migration 0002's note),
    so there the same statement fails and the log stays append-only.
    """
    # The exact name of the test database (with any xdist/tox suffix applied by now).
    test_database_name = connection.creation._get_test_db_name()
    original = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self, sql_list):
        if self.connection.settings_dict["NAME"] != test_database_name:
            return original(self, sql_list)
        with transaction.atomic(using=self.connection.alias):
            with self.connection.cursor() as cursor:
                for table in APPEND_ONLY_TABLES:
                    cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            original(self, sql_list)
            with self.connection.cursor() as cursor:
                for table in APPEND_ONLY_TABLES:
                    cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")

    DatabaseOperations.execute_sql_flush = execute_sql_flush
    yield
    DatabaseOperations.execute_sql_flush = original


@pytest.fixture(autouse=True)
def _empty_cache():
    """Verified API keys and their once-a-minute ``last_used_at`` marks live in the cache; each
    test starts without them. ``cache.clear()`` empties a whole Redis database, so it is only
    ever run against the test databases (14, 15), never the one ``make run`` uses."""
    database = urlsplit(settings.CACHES["default"]["LOCATION"]).path.lstrip("/")
    if database not in {"14", "15"}:
        pytest.fail(f"Tests must use Redis database 14 or 15 (TEST_REDIS_URL), not {database!r}")
    cache.clear()
    api_key_cache.local_forget()  # this process's copies of verified keys (ADR 0020)
    rate_limit_forget()  # this process's tokens taken ahead from the emptied buckets
    api_key_cache._touched.clear()  # this process's once-a-minute ``last_used_at`` gate


@pytest.fixture(autouse=True)
def _fresh_ingestion_runtime():
    """Each test reads workspaces' ingestion settings afresh (the runtime caches them per
    process), and the group-commit writer is stopped after it: its own connection would
    keep the test database open."""
    runtime.runtime_forget()
    yield
    runtime.runtime_forget()
    events_writer_stop()


@pytest.fixture(autouse=True)
def _fresh_http_pools():
    """No pooled connection outlives the test (and the local server) it was opened for."""
    http.reset()
    yield
    http.reset()


# --- People and workspaces -------------------------------------------------------------------


@pytest.fixture
def system_actor():
    return SystemActor("tests")


@pytest.fixture
def admin_user(db):
    """The admin (and owner) of ``workspace``."""
    return UserFactory(name="Ada Admin")


@pytest.fixture
def workspace(admin_user):
    return WorkspaceFactory(name="Acme", owner=admin_user)


@pytest.fixture
def editor_user(workspace):
    return MembershipFactory(workspace=workspace, role=Role.EDITOR, user__name="Eddie Editor").user


@pytest.fixture
def viewer_user(workspace):
    return MembershipFactory(workspace=workspace, role=Role.VIEWER, user__name="Vera Viewer").user


@pytest.fixture
def other_admin_user(db):
    """The admin of ``other_workspace``; not a member of ``workspace``."""
    return UserFactory(name="Otto Other")


@pytest.fixture
def other_workspace(other_admin_user):
    return WorkspaceFactory(name="Globex", owner=other_admin_user)


# --- API ---------------------------------------------------------------------------------------


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def make_api_key(system_actor):
    """``make_api_key(workspace, role=…, **options) -> (ApiKey, token)``, through the service
    (so the key is hashed and audited exactly as in production)."""

    def make(workspace, *, role=ApiKeyRole.WRITE, name="Storefront", **options):
        return services.api_key_create(
            workspace=workspace, actor=system_actor, name=name, role=role, **options
        )

    return make


# --- HTTP --------------------------------------------------------------------------------------


@pytest.fixture
def serve_http():
    """``serve_http(handler, tls=None) -> server``: a ``ThreadingHTTPServer`` for ``handler`` on
    a free loopback port, serving in a thread, with an empty ``seen`` list for the handler to
    record into (wrapped in ``tls``, an ``ssl.SSLContext``, if given). Every server started is
    stopped after the test."""
    started = []

    def serve(handler, *, tls=None):
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        server.seen = []
        if tls is not None:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return server

    yield serve
    for server in started:
        server.shutdown()
        server.server_close()
