"""Where the benchmarks run, arranged before Django's settings load (so no Django here)."""

import os
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

DATABASE_NAME = "tracklayer_bench"
REDIS_DATABASE = "13"
# The defaults of tracklayer/settings.py; only the database name (or number) is replaced.
DEFAULT_DATABASE_URL = "postgres://tracklayer:tracklayer@127.0.0.1:5432/tracklayer"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def _with_database(url: str, database: str) -> str:
    """``url`` (host, credentials, options kept) naming another database."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


def configure() -> str:
    """Point the settings at the bench databases; returns the PostgreSQL URL.

    ``DATABASE_URL`` and ``REDIS_URL``, when set, keep their server and credentials.
    """
    database_url = _with_database(
        os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL), DATABASE_NAME
    )
    os.environ["DATABASE_URL"] = database_url
    os.environ["TEST_REDIS_URL"] = _with_database(
        os.environ.get("REDIS_URL", DEFAULT_REDIS_URL), REDIS_DATABASE
    )
    os.environ["TRACKLAYER_ENV"] = "test"
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    return database_url


def _maintenance(database_url: str) -> psycopg.Connection:
    return psycopg.connect(_with_database(database_url, "postgres"), autocommit=True)


def _drop(connection: psycopg.Connection) -> None:
    connection.execute(
        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE_NAME))
    )


def recreate_database(database_url: str) -> None:
    """A fresh, empty bench database (any left over from an interrupted run goes first)."""
    with _maintenance(database_url) as connection:
        _drop(connection)
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE_NAME)))


def drop_database(database_url: str) -> None:
    with _maintenance(database_url) as connection:
        _drop(connection)
