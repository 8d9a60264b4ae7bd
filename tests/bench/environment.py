"""Where the benchmarks run, arranged before Django's settings load (so no Django settings
here; the region databases are migrated by ``manage.py`` in a process of their own)."""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from tracklayer.regions import REGIONS, alias_for

# BENCH_DATABASE names another, so that two runs on one server do not drop each other's.
DATABASE_NAME = os.environ.get("BENCH_DATABASE", "tracklayer_bench")
# Each region's data plane: a database of its own on the same server (tracklayer/regions.py).
REGION_DATABASE_NAMES = {code: f"{DATABASE_NAME}_{code}" for code in REGIONS}
REDIS_DATABASE = "13"
# The defaults of tracklayer/settings.py; only the database name (or number) is replaced.
DEFAULT_DATABASE_URL = "postgres://tracklayer:tracklayer@127.0.0.1:5432/tracklayer"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
ROOT = Path(__file__).resolve().parents[2]


def _with_database(url: str, database: str) -> str:
    """``url`` (host, credentials, options kept) naming another database."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


def region_database_url(database_url: str, region: str) -> str:
    """The URL of a region's bench database, on the server of ``database_url``."""
    return _with_database(database_url, REGION_DATABASE_NAMES[region])


def configure() -> str:
    """Point the settings at the bench databases — the control plane's and each region's,
    named explicitly in ``REGION_DATABASES`` so that the production-mode server finds them
    too; returns the control plane's PostgreSQL URL.

    ``DATABASE_URL`` and ``REDIS_URL``, when set, keep their server and credentials.
    """
    database_url = _with_database(
        os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL), DATABASE_NAME
    )
    os.environ["DATABASE_URL"] = database_url
    os.environ["REGION_DATABASES"] = ",".join(
        f"{code}={region_database_url(database_url, code)}" for code in REGIONS
    )
    os.environ["TEST_REDIS_URL"] = _with_database(
        os.environ.get("REDIS_URL", DEFAULT_REDIS_URL), REDIS_DATABASE
    )
    os.environ["TRACKLAYER_ENV"] = "test"
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    return database_url


def _maintenance(database_url: str) -> psycopg.Connection:
    return psycopg.connect(_with_database(database_url, "postgres"), autocommit=True)


def _names() -> list[str]:
    return [DATABASE_NAME, *REGION_DATABASE_NAMES.values()]


def _drop(connection: psycopg.Connection) -> None:
    for name in _names():
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def recreate_database(database_url: str) -> None:
    """Fresh, empty bench databases (any left over from an interrupted run go first); each
    region's is migrated here, the control plane's by the caller (once Django is set up)."""
    with _maintenance(database_url) as connection:
        _drop(connection)
        for name in _names():
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    migrate = [sys.executable, "manage.py", "migrate", "--no-input", "--verbosity", "0"]
    migrations = [
        subprocess.Popen(
            [*migrate, "--database", alias_for(code)],
            cwd=ROOT,
            env=os.environ.copy(),  # configure()'s DATABASE_URL and REGION_DATABASES
        )
        for code in REGIONS
    ]
    failed = [process.args for process in migrations if process.wait() != 0]
    if failed:
        raise RuntimeError(f"migrating the region databases failed: {failed}")


def drop_database(database_url: str) -> None:
    with _maintenance(database_url) as connection:
        _drop(connection)
