"""``tracklayer audit-db-role --role NAME [--password-env VAR] [--print-sql]``.

Sets up the restricted database role the application runs as. The append-only triggers on
the audit tables stop every role except the tables' *owner*, who can switch them off
(``ALTER TABLE … DISABLE TRIGGER``); so the application must not connect as the role that
owns the tables (the one that runs ``migrate``). Run this connected as that owner. It:

- creates the role if it is missing: LOGIN, and NOSUPERUSER NOCREATEDB NOCREATEROLE
  NOREPLICATION NOBYPASSRLS (the password, from the environment variable ``--password-env``
  names, is hashed with SCRAM-SHA-256 here, so it never travels or is logged in the clear);
- grants CONNECT on the database, USAGE on the schema, SELECT/INSERT/UPDATE/DELETE on every
  table in it, USAGE/SELECT on its sequences — and on the append-only tables
  (``audit.models.APPEND_ONLY_TABLES``) SELECT and INSERT only;
- sets default privileges, so tables and sequences the owner creates later get the same.
  A later append-only table is therefore writable until it is added to
  ``APPEND_ONLY_TABLES`` and this command is run again.

Idempotent: running it again converges the role's privileges to exactly these (privileges
granted by hand are revoked) and changes the password only when ``--password-env`` is given.
``--print-sql`` prints the statements instead of running them, for a DBA to review or run; it
needs no password (with ``--password-env`` naming an unset variable, the SQL sets none and says
how to set one).
"""

import os
import re

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from psycopg import sql

from audit.models import APPEND_ONLY_TABLES

TABLE_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"
APPEND_ONLY_PRIVILEGES = "SELECT, INSERT"
SEQUENCE_PRIVILEGES = "USAGE, SELECT"
# What the application's role must never hold on an append-only table (checked afterwards,
# so a grant to PUBLIC or to a group the role belongs to is caught too).
REFUSED_ON_APPEND_ONLY = ("UPDATE", "DELETE", "TRUNCATE", "TRIGGER", "REFERENCES")
ROLE_ATTRIBUTES = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
PRIVILEGED_ATTRIBUTES = {
    "rolsuper": "SUPERUSER",
    "rolcreatedb": "CREATEDB",
    "rolcreaterole": "CREATEROLE",
    "rolreplication": "REPLICATION",
    "rolbypassrls": "BYPASSRLS",
}
# Plain names only: no quoting surprises in DATABASE_URL, and ``pg_`` is reserved.
ROLE_NAME = re.compile(r"^(?!pg_)[a-z_][a-z0-9_]{0,62}$")


class Command(BaseCommand):
    help = (
        "Create (or update) the restricted database role the application runs as: it may "
        "read and append to the audit tables but never change, delete or truncate them."
    )

    def add_arguments(self, parser):
        parser.add_argument("--role", required=True, metavar="NAME", help="the role to set up")
        parser.add_argument(
            "--password-env",
            metavar="VAR",
            help="environment variable holding the role's password (set or changed)",
        )
        parser.add_argument(
            "--print-sql", action="store_true", help="print the SQL instead of running it"
        )
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="database alias")

    def handle(self, *args, role: str, password_env: str | None, print_sql: bool, **options):
        if not ROLE_NAME.match(role):
            raise CommandError(
                f"Role name {role!r}: use lower-case letters, digits and underscores "
                "(at most 63, not starting with pg_)."
            )
        password = os.environ.get(password_env, "") if password_env else ""
        if password_env and not password and not print_sql:
            raise CommandError(f"The environment variable {password_env} is empty or unset.")

        connection = connections[options["database"]]
        connection.ensure_connection()
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            state = _state(cursor, role)
            _check(state, role, creating=not print_sql)
            verifier = None
            if password:
                verifier = connection.connection.pgconn.encrypt_password(
                    password.encode(), role.encode(), b"scram-sha-256"
                ).decode()
            statements = _statements(state, role, verifier)
            rendered = [s.as_string(connection.connection) for s in statements]
            if print_sql:
                unset = password_env if password_env and not password else None
                self._print_sql(state, role, rendered, with_password=bool(verifier), unset=unset)
                return
            for statement in rendered:
                cursor.execute(statement)
            _verify(cursor, role)
        self._report(state, role, password_env)

    def _print_sql(
        self,
        state: dict,
        role: str,
        rendered: list[str],
        *,
        with_password: bool,
        unset: str | None = None,
    ) -> None:
        self.stdout.write(
            f"-- Restricted application role {role!r} for database {state['database']!r}.\n"
            f"-- Run as the owner of the tables ({state['owner']!r}) or a superuser, "
            "in one transaction."
        )
        if state["exists"]:
            self.stdout.write("-- The role exists already; it is not created again.")
        elif not with_password:
            why = f"${unset} is empty or unset" if unset else "No --password-env given"
            self.stdout.write(f"-- {why}, so no password here: set one with \\password {role}")
        self.stdout.write("BEGIN;")
        for statement in rendered:
            self.stdout.write(f"{statement};")
        self.stdout.write("COMMIT;")

    def _report(self, state: dict, role: str, password_env: str | None) -> None:
        password = f", password set from ${password_env}" if password_env else ""
        if state["exists"]:
            self.stdout.write(f"Role {role}: exists{password}; privileges brought up to date.")
        else:
            self.stdout.write(f"Role {role}: created ({ROLE_ATTRIBUTES}){password}.")
        self.stdout.write(
            f"  database {state['database']}: CONNECT; schema {state['schema']}: USAGE\n"
            f"  {TABLE_PRIVILEGES} on the {state['tables'] - len(APPEND_ONLY_TABLES)} "
            "other tables\n"
            f"  {APPEND_ONLY_PRIVILEGES} only on the append-only "
            f"{', '.join(APPEND_ONLY_TABLES)}\n"
            f"  {SEQUENCE_PRIVILEGES} on the {state['sequences']} sequences\n"
            f"  default privileges: tables and sequences {state['owner']} creates later in "
            f"{state['schema']} get the same (add a new append-only table to "
            "audit.models.APPEND_ONLY_TABLES and run this again)"
        )


def _state(cursor, role: str) -> dict:
    cursor.execute(
        "SELECT current_user, current_database(), current_schema(),"
        " (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user)"
    )
    owner, database, schema, can_create_roles = cursor.fetchone()
    cursor.execute(
        "SELECT t.name, c.relowner::regrole::text,"
        " c.oid IS NOT NULL AND pg_has_role(current_user, c.relowner, 'USAGE')"
        " FROM unnest(%s::text[]) AS t(name)"
        " LEFT JOIN pg_class c ON c.oid = to_regclass(t.name)",
        [list(APPEND_ONLY_TABLES)],
    )
    append_only = cursor.fetchall()
    cursor.execute(
        "SELECT count(*) FILTER (WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')),"
        " count(*) FILTER (WHERE c.relkind = 'S')"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = current_schema()"
    )
    tables, sequences = cursor.fetchone()
    cursor.execute(
        "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls"
        " FROM pg_roles WHERE rolname = %s",
        [role],
    )
    row = cursor.fetchone()
    state = {
        "owner": owner,
        "database": database,
        "schema": schema,
        "can_create_roles": can_create_roles,
        "append_only": append_only,
        "tables": tables,
        "sequences": sequences,
        "exists": row is not None,
        "privileged": [],
        "member_of_owner": [],
    }
    if row is not None:
        state["privileged"] = [
            keyword
            for keyword, value in zip(PRIVILEGED_ATTRIBUTES.values(), row, strict=True)
            if value
        ]
        # A member of the owner role may act as the owner (SET ROLE, or inherited): it could
        # switch the triggers off as easily as the owner.
        cursor.execute(
            "SELECT DISTINCT c.relowner::regrole::text FROM pg_class c"
            " WHERE c.oid = ANY(%s::regclass[]) AND pg_has_role(%s, c.relowner, 'MEMBER')",
            [list(APPEND_ONLY_TABLES), role],
        )
        state["member_of_owner"] = [name for (name,) in cursor.fetchall()]
    return state


def _check(state: dict, role: str, *, creating: bool) -> None:
    missing = [name for name, owner, _ in state["append_only"] if owner is None]
    if missing:
        raise CommandError(
            f"The append-only tables {', '.join(missing)} do not exist: run migrate first."
        )
    not_owned = [name for name, _, owned in state["append_only"] if not owned]
    if not_owned:
        owners = sorted({owner for _, owner, _ in state["append_only"]})
        raise CommandError(
            f"Connected as {state['owner']}, which does not own {', '.join(not_owned)}: run "
            f"this as the role that owns the tables and runs migrate ({', '.join(owners)})."
        )
    if role == state["owner"] or state["member_of_owner"]:
        raise CommandError(
            f"{role} owns the audit tables or is a member of their owner "
            f"({', '.join(state['member_of_owner']) or role}), so it could switch the "
            "append-only triggers off. The application's role must be a different role."
        )
    if state["privileged"]:
        raise CommandError(
            f"{role} exists with {', '.join(state['privileged'])}; the application's role "
            f"must have none of these. Remove them (ALTER ROLE {role} NO…) or choose another "
            "name."
        )
    if creating and not state["exists"] and not state["can_create_roles"]:
        raise CommandError(
            f"{state['owner']} may not create roles (CREATEROLE). Have a DBA create it "
            f"(CREATE ROLE {role} {ROLE_ATTRIBUTES} PASSWORD …), or run --print-sql and "
            "hand them the SQL."
        )


def _statements(state: dict, role: str, verifier: str | None) -> list[sql.Composable]:
    name = sql.Identifier(role)
    owner = sql.Identifier(state["owner"])
    schema = sql.Identifier(state["schema"])
    statements: list[sql.Composable] = []
    password = sql.SQL(" PASSWORD {}").format(sql.Literal(verifier)) if verifier else sql.SQL("")
    if not state["exists"]:
        statements.append(
            sql.SQL("CREATE ROLE {} " + ROLE_ATTRIBUTES + "{}").format(name, password)
        )
    elif verifier:
        statements.append(sql.SQL("ALTER ROLE {}{}").format(name, password))

    def add(template: str, *args: sql.Composable) -> None:
        statements.append(sql.SQL(template).format(*args))

    add("GRANT CONNECT ON DATABASE {} TO {}", sql.Identifier(state["database"]), name)
    add("GRANT USAGE ON SCHEMA {} TO {}", schema, name)
    # Exactly these privileges, whatever was granted before: revoke, then grant.
    add("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}", schema, name)
    add("GRANT " + TABLE_PRIVILEGES + " ON ALL TABLES IN SCHEMA {} TO {}", schema, name)
    tables = sql.SQL(", ").join(sql.Identifier(table) for table in APPEND_ONLY_TABLES)
    add("REVOKE ALL ON TABLE {} FROM {}", tables, name)
    add("GRANT " + APPEND_ONLY_PRIVILEGES + " ON TABLE {} TO {}", tables, name)
    add("REVOKE ALL ON ALL SEQUENCES IN SCHEMA {} FROM {}", schema, name)
    add("GRANT " + SEQUENCE_PRIVILEGES + " ON ALL SEQUENCES IN SCHEMA {} TO {}", schema, name)
    for kind, privileges in (("TABLES", TABLE_PRIVILEGES), ("SEQUENCES", SEQUENCE_PRIVILEGES)):
        add(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} REVOKE ALL ON " + kind + " FROM {}",
            owner,
            schema,
            name,
        )
        add(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT "
            + privileges
            + " ON "
            + kind
            + " TO {}",
            owner,
            schema,
            name,
        )
    return statements


def _verify(cursor, role: str) -> None:
    """What the role ends up able to do, however it got there (PUBLIC, group roles)."""
    cursor.execute(
        "SELECT t.name, p.privilege FROM unnest(%s::text[]) AS t(name)"
        " CROSS JOIN unnest(%s::text[]) AS p(privilege)"
        " WHERE has_table_privilege(%s, t.name, p.privilege)",
        [list(APPEND_ONLY_TABLES), list(REFUSED_ON_APPEND_ONLY), role],
    )
    leaks = cursor.fetchall()
    if leaks:
        raise CommandError(
            f"{role} still holds "
            + ", ".join(f"{privilege} on {table}" for table, privilege in leaks)
            + " through PUBLIC or a role it belongs to; revoke that grant and run this again "
            "(nothing was changed)."
        )
