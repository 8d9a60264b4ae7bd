"""``tracklayer audit-db-role``: the restricted role the application runs as may read and append
to the audit log, but cannot change or remove what it holds, nor switch off the triggers that
refuse it — while the rest of the application keeps working.

Each test creates a role with a random name through the command, connects to the test
database *as that role* in a separate connection (so everything it touches was committed:
``transaction=True``), and drops the role afterwards. The test role needs CREATEROLE for
that; ``tracklayer.devenv`` gives it to the local ``tracklayer`` role.
"""

import re
import secrets
from contextlib import contextmanager
from io import StringIO
from types import SimpleNamespace

import psycopg
import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.utils import ProgrammingError
from psycopg import errors, sql

from audit import services as audit_services
from audit.models import (
    APPEND_ONLY_TABLES,
    AuditCheckpoint,
    AuditEntry,
    AuditLogHead,
    AuditMerkleNode,
)
from tests.factories import UserFactory, WorkspaceFactory
from workspaces import services as workspace_services
from workspaces.actors import SystemActor
from workspaces.models import Workspace

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD_ENV = "TRACKLAYER_TEST_APP_DB_PASSWORD"
ACTOR = SystemActor("tests")
# The append-only tables' models, found from the one list (audit.models.APPEND_ONLY_TABLES).
MODELS = {
    model._meta.db_table: model
    for model in apps.get_app_config("audit").get_models()
    if model._meta.db_table in APPEND_ONLY_TABLES
}
assert set(MODELS) == set(APPEND_ONLY_TABLES)


# --- Plumbing ---------------------------------------------------------------------------------


def q(template: str, **names: str) -> sql.Composed:
    """``template`` with its ``{name}`` placeholders filled in as quoted identifiers."""
    return sql.SQL(template).format(**{key: sql.Identifier(value) for key, value in names.items()})


def owner_sql(statement, params=None):
    """Run a statement on Django's connection: as the test role, which owns the test
    database's tables (unless inside ``django_connected_as``)."""
    if isinstance(statement, sql.Composable):
        connection.ensure_connection()
        statement = statement.as_string(connection.connection)
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else None


def role_exists(name: str) -> bool:
    return bool(owner_sql("SELECT 1 FROM pg_roles WHERE rolname = %s", [name]))


def drop_role(name: str) -> None:
    """Revoke everything the command granted, then drop the role. (``DROP OWNED BY`` would
    need membership in the role; the role owns nothing, so revoking is all there is.)"""
    if not role_exists(name):
        return
    names = {
        "role": name,
        "owner": owner_sql("SELECT current_user")[0][0],
        "database": connection.settings_dict["NAME"],
    }
    for statement in (
        "REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}",
        "REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {role}",
        "REVOKE ALL ON SCHEMA public FROM {role}",
        "REVOKE ALL ON DATABASE {database} FROM {role}",
        "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public"
        " REVOKE ALL ON TABLES FROM {role}",
        "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public"
        " REVOKE ALL ON SEQUENCES FROM {role}",
        "DROP ROLE {role}",
    ):
        owner_sql(q(statement, **names))


@pytest.fixture
def role_name():
    """A fresh role name; whatever the test created under it is dropped afterwards."""
    [(can_create_roles,)] = owner_sql(
        "SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user"
    )
    if not can_create_roles:
        pytest.fail(
            "The test database role needs CREATEROLE to create the restricted role; "
            "`python -m tracklayer.devenv services` (run by `make test`) grants it to the "
            "local role: see docs/audit-log.md, 'Running as a restricted role'."
        )
    name = f"tl_test_app_{secrets.token_hex(5)}"
    yield name
    drop_role(name)


@pytest.fixture
def app_role(role_name, monkeypatch):
    password = secrets.token_urlsafe(24)
    monkeypatch.setenv(PASSWORD_ENV, password)
    out = StringIO()
    call_command("audit_db_role", "--role", role_name, "--password-env", PASSWORD_ENV, stdout=out)
    return SimpleNamespace(name=role_name, password=password, output=out.getvalue())


@contextmanager
def connected_as(role):
    """A separate connection to the test database as ``role``, with the password the command
    set (a server that checks passwords checks it; trust authentication does not)."""
    settings = connection.settings_dict
    conn = psycopg.connect(
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
        dbname=settings["NAME"],
        user=role.name,
        password=role.password,
        autocommit=True,
        connect_timeout=5,
    )
    try:
        yield conn
    finally:
        conn.close()


@contextmanager
def django_connected_as(role):
    """Django's own connection as ``role``: the application's code runs as the role would in
    production (``DATABASE_URL=postgres://role:…``). The owner's settings come back after."""
    settings = connection.settings_dict
    saved = settings["USER"], settings["PASSWORD"]
    connection.close()
    settings["USER"], settings["PASSWORD"] = role.name, role.password
    try:
        yield
    finally:
        connection.close()
        settings["USER"], settings["PASSWORD"] = saved


def refused(conn, statement, params=None) -> str:
    """The error message of a statement that must fail for lack of privilege."""
    with pytest.raises(errors.InsufficientPrivilege) as raised:
        conn.execute(statement, params)
    return str(raised.value)


def text(conn, statement) -> str:
    return statement.as_string(conn) if isinstance(statement, sql.Composable) else statement


@pytest.fixture
def log(workspace):
    """A workspace whose log has entries, Merkle nodes, a signed checkpoint and an entry that
    waited for the advisory lock (queued, then appended when it lifted)."""
    key = audit_services.audit_advisory_lock_enable(workspace=workspace, actor=ACTOR)
    workspace_services.auth_sign_in_failed(user=workspace.memberships.first().user, reason="test")
    audit_services.audit_advisory_lock_disable(workspace=workspace, actor=ACTOR, key=key)
    audit_services.audit_checkpoint_sign(workspace=workspace, actor=ACTOR)
    for model in MODELS.values():
        assert model.objects.exists(), model
    return workspace


def counts() -> dict[str, int]:
    return {table: model.objects.count() for table, model in MODELS.items()}


# --- The role ---------------------------------------------------------------------------------


def test_the_command_creates_a_login_role_without_any_special_power(app_role):
    assert f"Role {app_role.name}: created" in app_role.output
    with connected_as(app_role) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == app_role.name
        attributes = conn.execute(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls,"
            " rolcanlogin FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        assert attributes == (False, False, False, False, False, True)
        assert conn.execute("SHOW is_superuser").fetchone()[0] == "off"
        # Neither the owner of the audit tables nor a member of the owner's role.
        owned = conn.execute(
            "SELECT bool_or(pg_has_role(current_user, relowner, 'MEMBER')) FROM pg_class"
            " WHERE oid = ANY(%s::regclass[])",
            [list(APPEND_ONLY_TABLES)],
        ).fetchone()[0]
        assert owned is False


def test_the_command_is_idempotent_and_takes_back_stray_grants(app_role, log):
    owner_sql(q("GRANT UPDATE, DELETE, TRUNCATE ON audit_auditentry TO {role}", role=app_role.name))

    out = StringIO()
    call_command("audit_db_role", "--role", app_role.name, stdout=out)

    assert f"Role {app_role.name}: exists; privileges brought up to date." in out.getvalue()
    with connected_as(app_role) as conn:  # the password is unchanged
        for privilege in ("UPDATE", "DELETE", "TRUNCATE"):
            assert not conn.execute(
                "SELECT has_table_privilege('audit_auditentry', %s)", [privilege]
            ).fetchone()[0], privilege
        assert "permission denied" in refused(conn, "DELETE FROM audit_auditentry")


def test_print_sql_prints_the_statements_and_changes_nothing(role_name, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, "not-in-the-output")
    out = StringIO()

    call_command(
        "audit_db_role",
        "--role",
        role_name,
        "--password-env",
        PASSWORD_ENV,
        "--print-sql",
        stdout=out,
    )

    printed = out.getvalue()
    assert f'CREATE ROLE "{role_name}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE' in printed
    assert "PASSWORD 'SCRAM-SHA-256$4096:" in printed  # hashed here, never in the clear
    assert "not-in-the-output" not in printed
    tables = ", ".join(f'"{table}"' for table in APPEND_ONLY_TABLES)
    assert f'GRANT SELECT, INSERT ON TABLE {tables} TO "{role_name}";' in printed
    assert not role_exists(role_name)


def test_the_command_refuses_roles_that_could_act_as_the_owner(role_name, monkeypatch):
    owner = owner_sql("SELECT current_user")[0][0]
    with pytest.raises(CommandError, match="could switch the append-only triggers off"):
        call_command("audit_db_role", "--role", owner)

    names = {"role": role_name, "owner": owner}
    owner_sql(q("CREATE ROLE {role} LOGIN", **names))
    owner_sql(q("GRANT {owner} TO {role}", **names))
    with pytest.raises(CommandError, match=f"is a member of their owner \\({owner}\\)"):
        call_command("audit_db_role", "--role", role_name)

    owner_sql(q("REVOKE {owner} FROM {role}", **names))
    owner_sql(q("ALTER ROLE {role} CREATEDB", **names))
    with pytest.raises(CommandError, match="exists with CREATEDB"):
        call_command("audit_db_role", "--role", role_name)
    # Nothing was granted along the way.
    assert not owner_sql(
        "SELECT has_table_privilege(%s, 'audit_auditentry', 'SELECT')", [role_name]
    )[0][0]

    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    with pytest.raises(CommandError, match=f"{PASSWORD_ENV} is empty or unset"):
        call_command("audit_db_role", "--role", "tl_other", "--password-env", PASSWORD_ENV)


# --- What it can and cannot do to the audit log -----------------------------------------------


def test_the_role_can_read_and_append_to_the_log(app_role, log):
    before = counts()
    with connected_as(app_role) as conn:
        for table in APPEND_ONLY_TABLES:
            rows = conn.execute(q("SELECT count(*) FROM {table}", table=table)).fetchone()[0]
            assert rows == before[table]
            assert conn.execute(
                "SELECT has_table_privilege(%s, 'SELECT'), has_table_privilege(%s, 'INSERT')",
                [table, table],
            ).fetchone() == (True, True)
        # Real inserts (copies of existing rows, moved out of the way), rolled back.
        with conn.transaction(force_rollback=True):
            inserted = [
                conn.execute(
                    "INSERT INTO audit_auditentry (public_id, workspace_id, idx, prev_hash, hash,"
                    " material, event_type, resource_type, resource_id, actor, timestamp)"
                    " SELECT public_id || '_copy', workspace_id, idx + 1000000, prev_hash, hash,"
                    " material, event_type, resource_type, resource_id, actor, timestamp"
                    " FROM audit_auditentry ORDER BY idx LIMIT 1"
                ).rowcount,
                conn.execute(
                    "INSERT INTO audit_auditmerklenode (workspace_id, level, index, hash)"
                    " SELECT workspace_id, level, index + 1000000, hash"
                    " FROM audit_auditmerklenode LIMIT 1"
                ).rowcount,
                conn.execute(
                    "INSERT INTO audit_auditcheckpoint (workspace_id, size, root, note,"
                    " signing_key_id, created_at)"
                    " SELECT workspace_id, size + 1000000, root, note, signing_key_id, created_at"
                    " FROM audit_auditcheckpoint LIMIT 1"
                ).rowcount,
            ]
            assert inserted == [1, 1, 1]
    assert counts() == before


@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
def test_the_role_cannot_update_delete_or_truncate(app_role, log, table):
    before = counts()
    column = MODELS[table]._meta.concrete_fields[-1].column
    with connected_as(app_role) as conn:
        for statement in (
            q("UPDATE {table} SET {column} = {column}", table=table, column=column),
            q("DELETE FROM {table}", table=table),
            q("TRUNCATE {table}", table=table),
            q("TRUNCATE {table} CASCADE", table=table),
        ):
            # The privilege check refuses it, before the append-only trigger is ever reached
            # (the trigger's own refusal would read "audit log is append-only").
            message = refused(conn, statement)
            assert f"permission denied for table {table}" in message, text(conn, statement)
    assert counts() == before


@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
def test_the_role_cannot_switch_the_triggers_off(app_role, log, table):
    owner = owner_sql("SELECT current_user")[0][0]
    triggers = [
        name
        for (name,) in owner_sql(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal",
            [table],
        )
    ]
    assert len(triggers) == 2  # UPDATE/DELETE and TRUNCATE (migrations 0002, 0004, 0008)
    with connected_as(app_role) as conn:
        for statement in (
            q("ALTER TABLE {table} DISABLE TRIGGER USER", table=table),
            q("ALTER TABLE {table} DISABLE TRIGGER ALL", table=table),
            *(
                q("ALTER TABLE {table} DISABLE TRIGGER {name}", table=table, name=name)
                for name in triggers
            ),
            *(q("DROP TRIGGER {name} ON {table}", table=table, name=name) for name in triggers),
            q("ALTER TABLE {table} OWNER TO {role}", table=table, role=app_role.name),
        ):
            message = refused(conn, statement)
            # "table" or "relation", depending on the statement
            assert re.search(f"must be owner of (table|relation) {table}$", message), text(
                conn, statement
            )

        # The replica mode, in which ordinary triggers do not fire, is for superusers.
        for statement in (
            "SET session_replication_role = replica",
            "SET LOCAL session_replication_role = replica",
            "SELECT set_config('session_replication_role', 'replica', false)",
        ):
            message = refused(conn, statement)
            assert 'permission denied to set parameter "session_replication_role"' in message
        assert conn.execute("SHOW session_replication_role").fetchone()[0] == "origin"

        # Nor can it become the owner, or replace the function the triggers call.
        assert "permission denied to set role" in refused(conn, q("SET ROLE {owner}", owner=owner))
        message = refused(
            conn,
            "CREATE OR REPLACE FUNCTION audit_reject_mutation() RETURNS trigger"
            " LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$",
        )  # no CREATE on the schema (PostgreSQL 15's default); were there, not the owner
        assert re.search("permission denied for schema|must be owner of function", message)
        assert "must be owner of function audit_reject_mutation" in refused(
            conn, q("ALTER FUNCTION audit_reject_mutation() OWNER TO {role}", role=app_role.name)
        )

    states = owner_sql(
        "SELECT tgenabled FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal",
        [table],
    )
    assert states == [("O",), ("O",)]  # still enabled


# --- The rest of the application still works --------------------------------------------------


def test_the_role_can_change_ordinary_tables(app_role, log):
    with connected_as(app_role) as conn:
        updated = conn.execute(
            "UPDATE workspaces_workspace SET name = %s WHERE id = %s", ["Renamed", log.pk]
        ).rowcount
    assert updated == 1
    assert Workspace.objects.get(pk=log.pk).name == "Renamed"


def test_the_application_runs_as_the_role(app_role):
    with django_connected_as(app_role):
        assert owner_sql("SELECT current_user")[0][0] == app_role.name
        # The services write entries, Merkle nodes, the log head and a signed checkpoint.
        workspace = WorkspaceFactory(name="Runs As App", owner=UserFactory())
        checkpoint = audit_services.audit_checkpoint_sign(workspace=workspace, actor=ACTOR)
        head = AuditLogHead.objects.get(workspace=workspace)
        assert (
            checkpoint.size == head.size == AuditEntry.objects.filter(workspace=workspace).count()
        )
        assert AuditMerkleNode.objects.filter(workspace=workspace).exists()

        # The ORM's update and delete are refused by the database, not merely by convention.
        with pytest.raises(ProgrammingError, match="permission denied for table audit_auditentry"):
            AuditEntry.objects.filter(workspace=workspace).update(actor="someone:else")
        with pytest.raises(ProgrammingError, match="permission denied for table"):
            AuditCheckpoint.objects.filter(workspace=workspace).delete()
    assert owner_sql("SELECT current_user")[0][0] != app_role.name


def test_tables_created_later_get_the_same_privileges(app_role):
    table = {"table": f"tl_test_later_{secrets.token_hex(4)}"}
    # As a later migration would create it: by the owner, after the command ran.
    owner_sql(q("CREATE TABLE {table} (id bigserial PRIMARY KEY, note text)", **table))
    try:
        with connected_as(app_role) as conn:
            # bigserial: the INSERT calls nextval() itself, which needs USAGE on the sequence.
            conn.execute(q("INSERT INTO {table} (note) VALUES ('a')", **table))
            assert conn.execute(q("UPDATE {table} SET note = 'b'", **table)).rowcount == 1
            assert conn.execute(q("DELETE FROM {table}", **table)).rowcount == 1
            assert "permission denied" in refused(conn, q("TRUNCATE {table}", **table))
    finally:
        owner_sql(q("DROP TABLE {table}", **table))
