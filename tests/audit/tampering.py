"""What someone with the table owner's database access could do to a log — and what
production's non-owner role cannot: switch the append-only triggers off and edit history."""

from django.db import connection

from audit.models import APPEND_ONLY_TABLES


def as_owner_without_triggers(*statements: tuple[str, list]) -> None:
    """Run statements with the triggers off (rolled back with the test's transaction).

    The test's own inserts leave deferred foreign-key checks pending, and PostgreSQL will
    not alter a table with pending trigger events, so those checks run first."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for table in APPEND_ONLY_TABLES:
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        for sql, params in statements:
            cursor.execute(sql, params)
        for table in APPEND_ONLY_TABLES:
            cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
