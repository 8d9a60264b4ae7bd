"""Durable, de-duplicated writes of prepared events — and group commit.

``events_write`` stores many requests' events in one SQL statement and one transaction:
message ids go into ``EventMessageId`` with ON CONFLICT DO NOTHING, and only the ids that went
in are inserted as events (with their operational row). Two copies of an event, in one batch,
in two concurrent requests or days apart within the window, are stored once: the primary key
decides, not a read-then-write race.

``GroupCommitWriter`` is why ingestion is fast without relaxing durability. Every commit waits
for the WAL to reach disk, so one commit per request caps a server at its fsync rate (a few
hundred per second here). Request threads hand their events to a writer thread and wait; the
writer takes everything that queued up while it was busy and commits it at once. A request is
answered only after the commit that holds its events (docs/adr/0008).

Events live in their workspace's region (workspaces/regions.py), so there is one writer per
region per process (``tracklayer-event-writer-eu``), each with its own connection to its
region's database: a commit never mixes regions, and a region that is slow or down holds up
only its own requests.
"""

import logging
import math
import queue
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime

import orjson
import psycopg
from django.db import DatabaseError, close_old_connections, connections, transaction

from destinations.ingestion.envelope import Prepared
from destinations.metrics import (
    EVENTS_ACCEPTED,
    EVENTS_DUPLICATE,
    EVENTS_RECEIVED,
    EVENTS_REJECTED,
    EVENTS_SUPPRESSED,
)
from destinations.metrics.writer import Figures, RejectedRow, figures_write
from destinations.tracking_plans.services import tracking_plan_violations_record
from tracklayer.exceptions import DomainError
from tracklayer.regions import data_aliases, region_of_alias
from workspaces.models import Workspace
from workspaces.regions import workspace_db

log = logging.getLogger(__name__)


class EventWriteError(DomainError):
    """This request's events could not be stored; nothing of it was acknowledged. Raised in
    the request's thread as a fresh exception: it carries neither the writer's traceback
    (whose frames hold other requests' rows) nor the database's message (which can quote
    them), so not even a DEBUG error page can show another request's data."""

    code = "events_not_stored"
    status = 503

    def __init__(self) -> None:
        super().__init__(
            "The events could not be stored and none was accepted; send them again later."
        )


@dataclass(slots=True)
class WriteRequest:
    """One request's events for one workspace (whose region decides where they go)."""

    workspace: Workspace
    workspace_id: int
    api_key_id: int | None
    source: str
    received_at: datetime
    events: Sequence[Prepared]
    statuses: Sequence[str]  # per event: "ok" | "flagged"
    violations: list = field(default_factory=list)  # (event name, PlanViolation)
    # For the minute figures (destinations.metrics), written in the same commit: how many
    # events the request carried, how many were dropped for a suppressed subject, how many
    # were refused per reason, those kept for the debugger (capped), and the key used.
    received: int = 0
    suppressed: int = 0
    rejected_reasons: dict[str, int] = field(default_factory=dict)  # reason code -> refused
    rejected: list[RejectedRow] = field(default_factory=list)  # at most a minute's cap
    api_key_public_id: str = ""


@dataclass(slots=True)
class WriteResult:
    stored: list[Prepared]
    duplicates: list[Prepared]
    # The id of the transaction that wrote them, returned by the events statement (the
    # group-commit writer settles a lost COMMIT with it, ADR 0028); None if nothing was inserted.
    transaction_id: str | None = None


_COLUMNS = (
    ("workspace_id", "bigint"),
    ("message_id", "text"),
    ("type", "text"),
    ("name", "text"),
    ("anonymous_id", "text"),
    ("user_id_hash", "text"),
    ("group_id_hash", "text"),
    ("previous_id_hash", "text"),
    ("timestamp", "timestamptz"),
    ("original_timestamp", "timestamptz"),
    ("sent_at", "timestamptz"),
    ("received_at", "timestamptz"),
    ("properties", "jsonb"),
    ("traits", "jsonb"),
    ("context", "jsonb"),
    ("integrations", "jsonb"),
    ("identifiers", "jsonb"),
    ("consent", "jsonb"),
    ("validation", "jsonb"),
    ("status", "text"),
    ("source", "text"),
    ("api_key_id", "bigint"),
    ("ip", "inet"),
    ("user_agent", "text"),
)
_EVENT_COLUMNS = [name for name, _ in _COLUMNS if name not in {"ip", "user_agent"}]

# The rows go over the wire as ONE jsonb document (a single orjson.dumps): adapting two dozen
# arrays element by element in Python cost more than the whole insert. Each row's columns are
# taken out of it with ``->`` (its jsonb values as they are, no text in between) and ``->>`` and
# a cast; jsonb_to_recordset, used before, printed every jsonb value back to text and parsed it
# again (~4 µs of PostgreSQL per event). COPY into a staging table was measured against this
# and not kept: no faster in all (docs/adr/0021). What it returns is cast to fixed types: it is
# prepared on the writer's connection (ADR 0028), and a migration of the column (a longer
# messageId) must not change a prepared statement's result type.
_TAKEN = ", ".join(
    f"e -> '{name}' AS {name}" if kind == "jsonb" else f"(e ->> '{name}')::{kind} AS {name}"
    for name, kind in _COLUMNS
)
_SELECTED = ", ".join(f"input.{name}" for name in _EVENT_COLUMNS)
_INSERT = f"""
WITH input AS (
    SELECT {_TAKEN} FROM jsonb_array_elements(%s::jsonb) AS e
),
fresh AS (
    INSERT INTO destinations_eventmessageid (workspace_id, message_id, received_at)
    SELECT workspace_id, message_id, received_at FROM input
    ON CONFLICT DO NOTHING
    RETURNING workspace_id, message_id
),
events AS (
    INSERT INTO destinations_event ({", ".join(_EVENT_COLUMNS)}, fanout_pending)
    SELECT {_SELECTED}, true
    FROM input JOIN fresh USING (workspace_id, message_id)
    RETURNING id, workspace_id, message_id
),
operational AS (
    INSERT INTO destinations_eventoperational (event_id, workspace_id, ip, user_agent, received_at)
    SELECT events.id, input.workspace_id, input.ip, input.user_agent, input.received_at
    FROM events JOIN input USING (workspace_id, message_id)
    WHERE input.ip IS NOT NULL OR input.user_agent <> ''
)
SELECT fresh.workspace_id::bigint, fresh.message_id::text, current_transaction.id
FROM (SELECT pg_current_xact_id()::text AS id) AS current_transaction LEFT JOIN fresh ON true
"""  # noqa: S608 - only column names and casts are formatted in, all values are parameters


def _dumps(value) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _rows(requests: Sequence[WriteRequest]) -> list[dict]:
    """Every event of ``requests`` as the row to write, the first copy of each (workspace,
    messageId) only: a second copy in this very write is a duplicate of the first."""
    rows: list[dict] = []
    seen: set[tuple[int, str]] = set()
    for request in requests:
        shared = {
            "workspace_id": request.workspace_id,
            "received_at": request.received_at,
            "source": request.source,
            "api_key_id": request.api_key_id,
        }
        for event, status in zip(request.events, request.statuses, strict=True):
            key = (request.workspace_id, event.message_id)
            if key in seen:
                continue
            seen.add(key)
            rows.append(
                {
                    **event.row,
                    **shared,
                    "status": status,
                    "ip": event.ip,
                    "user_agent": event.user_agent,
                }
            )
    return rows


def events_write(requests: Sequence[WriteRequest], *, using: str) -> list[WriteResult]:
    """Store the events of ``requests`` in the caller's transaction on ``using``, the
    database of their workspaces' region; return, per request, which were stored and which
    were duplicates (and the transaction's id, which the events statement returns: no round
    trip of its own for the group-commit writer, ADR 0028)."""
    rows = _rows(requests)
    stored: set[tuple[int, str]] = set()
    transaction_id = None
    if rows:
        connection = connections[using]
        connection.ensure_connection()
        with psycopg.Cursor(connection.connection) as cursor:
            # Prepared on the group-commit writer's connection (``_write_once``); a no-op on
            # Django's other connections, which turn preparing off.
            cursor.execute(_INSERT, [_dumps(rows)], prepare=True)
            # At least one row: the transaction's id, with a stored event's key or none.
            fresh = cursor.fetchall()
        stored = {(workspace_id, message_id) for workspace_id, message_id, _ in fresh}
        stored.discard((None, None))
        transaction_id = fresh[0][2]
    _record_violations(requests, using=using)

    results = []
    claimed: set[tuple[int, str]] = set()
    for request in requests:
        result = WriteResult([], [], transaction_id)
        for event in request.events:
            key = (request.workspace_id, event.message_id)
            if key in stored and key not in claimed:
                claimed.add(key)
                result.stored.append(event)
            else:
                result.duplicates.append(event)
        results.append(result)
    _record_figures(requests, results, using=using)
    return results


def _record_figures(
    requests: Sequence[WriteRequest], results: Sequence[WriteResult], *, using: str
) -> None:
    """The write's minute figures and rejected events, added up over every request of the
    commit: one more statement per commit, in its transaction (docs/monitoring.md)."""
    figures = Figures()
    rejected: list[RejectedRow] = []
    for request, result in zip(requests, results, strict=True):
        workspace_id, at = request.workspace_id, request.received_at
        figures.add(
            workspace_id=workspace_id,
            at=at,
            kind=EVENTS_RECEIVED,
            subject=request.api_key_public_id,
            value=request.received,
        )
        for name, count in Counter(event.event_name for event in result.stored).items():
            figures.add(
                workspace_id=workspace_id, at=at, kind=EVENTS_ACCEPTED, subject=name, value=count
            )
        figures.add(
            workspace_id=workspace_id,
            at=at,
            kind=EVENTS_DUPLICATE,
            value=len(result.duplicates),
        )
        figures.add(
            workspace_id=workspace_id, at=at, kind=EVENTS_SUPPRESSED, value=request.suppressed
        )
        for reason, count in request.rejected_reasons.items():
            figures.add(
                workspace_id=workspace_id, at=at, kind=EVENTS_REJECTED, subject=reason, value=count
            )
        rejected.extend(request.rejected)
    figures_write(figures, using=using, rejected=rejected)


def _record_violations(requests: Sequence[WriteRequest], *, using: str) -> None:
    """Count tracking-plan violations in the same transaction as the events: one call per
    workspace, in workspace order, so that two concurrent group commits take the counters'
    row locks in the same order and cannot deadlock."""
    by_workspace: dict[int, tuple[object, list]] = {}
    for request in requests:
        if request.violations:
            _, violations = by_workspace.setdefault(request.workspace_id, (request.workspace, []))
            violations.extend(request.violations)
    if not by_workspace:
        return
    for workspace_id in sorted(by_workspace):
        workspace, violations = by_workspace[workspace_id]
        tracking_plan_violations_record(
            workspace=workspace,
            violations=violations,
            seen_at=requests[0].received_at,
            using=using,
        )


# --- Group commit -----------------------------------------------------------------------------


class GroupCommitWriter:
    """One writer thread per region per process, writing to ``database`` (the region's alias)
    on a connection of its own; ``write`` blocks until the commit holding the events.

    No timer: the writer commits whatever is queued the moment it is free, so a lone request
    waits for one commit, and under load each commit carries everything that arrived during the
    previous one.
    """

    def __init__(self, database: str, *, max_requests: int = 512):
        self.database = database
        self.max_requests = max_requests
        self._committed_at = -math.inf  # monotonic time of the last commit that went through
        self._queue: queue.SimpleQueue[tuple[WriteRequest, Future]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def write(self, request: WriteRequest, *, timeout: float = 30.0) -> WriteResult:
        self._ensure_started()
        done: Future = Future()
        self._queue.put((request, done))
        return done.result(timeout=timeout)

    def _ensure_started(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self._start_lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(
                        target=self._run,
                        name=f"tracklayer-event-writer-{region_of_alias(self.database)}",
                        daemon=True,
                    )
                    self._thread.start()

    def stop(self) -> None:
        """Let the writer finish what is queued, close its connection and end (tests, and
        worker shutdown)."""
        thread = self._thread
        if thread is not None and thread.is_alive():
            self._queue.put(_STOP)
            thread.join(timeout=10)
        self._thread = None

    def _run(self) -> None:
        while True:
            pending = [self._queue.get()]
            while len(pending) < self.max_requests:
                try:
                    pending.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = _STOP in pending
            pending = [item for item in pending if item is not _STOP]
            if pending:
                self._commit(pending)
            if stop:
                connections[self.database].close()  # the writer thread's own connection
                return

    def _commit(self, pending: list[tuple[WriteRequest, Future]]) -> None:
        requests = [request for request, _ in pending]
        proven = time.monotonic() - self._committed_at < PROVEN_FOR
        self._committed_at = -math.inf
        try:
            results = _write_settled(requests, self.database, proven=proven)
        except _Unsettled as error:
            # Whether the commit holding them happened is unknown: written again, they could
            # be answered as duplicates of themselves. Each is told to send them again (the
            # message ids make that exact).
            for item in pending:
                _fail(item, error)
            return
        except Exception as error:  # retried request by request below
            if len(pending) == 1:
                _fail(pending[0], error)
                return
            # One request's rows can fail the statement that carries everyone's (ADR 0008):
            # each request is written again on its own, so only the one at fault fails.
            _log_failure(error, [request for request, _ in pending], retrying=True)
            for item in pending:
                try:
                    result = _write_settled([item[0]], self.database)[0]
                except Exception as own_error:  # answered to its own request
                    _fail(item, own_error)
                else:
                    item[1].set_result(result)
            return
        self._committed_at = time.monotonic()
        for (_, done), result in zip(pending, results, strict=True):
            done.set_result(result)


# A connection whose last commit went through less than this many seconds ago is not checked
# again before the next (Django's health check: a SELECT 1, one more round trip and transaction
# per commit). If it broke since, the commit finds out: it is written once more on a new
# connection (``GroupCommitWriter._commit``), as a failed check would have had it; nothing is
# acknowledged before its commit, nothing is lost.
PROVEN_FOR = 1.0
# The writer's connection is its own and direct (no pooler), so its two statements are
# prepared: parsing and planning them cost PostgreSQL more than running them (docs/adr/0028).
# Django turns preparing off (``prepare_threshold=None``) on every connection; this is
# psycopg's default, and the statements ask to be prepared at once (``prepare=True``).
PREPARE_THRESHOLD = 5


def _write_settled(
    requests: list[WriteRequest], database: str, *, proven: bool = False
) -> list[WriteResult]:
    """``_write_once``, written once more on a new connection if it broke before its commit
    while unchecked (``_ConnectionLost``); if it broke during its COMMIT, the database is asked
    whether that transaction committed: the results are then the first attempt's (its events
    are answered accepted once, its figures counted once), or it is written once more. Raises
    ``_Unsettled`` when that cannot be known."""
    try:
        try:
            return _write_once(requests, database, proven=proven)
        except _ConnectionLost:
            # It broke since its last commit, unchecked: once more on a new connection, as
            # after a failed health check.
            log.warning("the event writer's connection to %s broke; reconnected", database)
            return _write_once(requests, database)
    except _InDoubt as doubt:
        log.warning(
            "the event writer's connection to %s broke during COMMIT; asking whether it committed",
            database,
        )
        if _committed(doubt.xid, database):
            return doubt.results
        try:
            return _write_once(requests, database)
        except _InDoubt as again:
            if _committed(again.xid, database):
                return again.results
            raise _Unsettled() from again


def _write_once(
    requests: list[WriteRequest], database: str, *, proven: bool = False
) -> list[WriteResult]:
    raw = None
    results: list[WriteResult] | None = None
    xid = None
    try:
        close_old_connections()  # CONN_MAX_AGE, errors, autocommit left off
        connection = connections[database]
        if proven and connection.connection is not None:
            connection.health_check_done = True
        with transaction.atomic(using=database):
            raw = connection.connection
            raw.prepare_threshold = PREPARE_THRESHOLD
            results = events_write(requests, using=database)
            # Returned by the events statement; asked on its own if there was no event.
            xid = results[0].transaction_id or _transaction_id(raw)
        return results
    except Exception as error:
        # Broken, or closed by atomic() because even its rollback failed.
        broken = raw is not None and (raw.broken or raw.closed)
        connections[database].close()  # a broken connection is not handed to the next commit
        if broken and xid is not None and results is not None:
            # Every statement went through: it broke during COMMIT, whose outcome is unknown.
            raise _InDoubt(xid, results) from error
        if broken and proven:
            raise _ConnectionLost() from error
        raise


def _transaction_id(raw: psycopg.Connection) -> str:
    """The current transaction's id (it has one: it wrote), to ask after it if its COMMIT's
    answer is lost. Prepared like the writer's other statements: a Bind/Execute round trip."""
    with psycopg.Cursor(raw) as cursor:
        cursor.execute(_TRANSACTION_ID, prepare=True)
        return cursor.fetchone()[0]


_TRANSACTION_ID = "SELECT pg_current_xact_id()::text"
# How long to wait for a transaction whose COMMIT lost its connection to be over (its backend
# may still be finishing it), asked every ``IN_DOUBT_POLL`` seconds.
IN_DOUBT_WAIT = 2.0
IN_DOUBT_POLL = 0.02


def _committed(xid: str, database: str) -> bool:
    """Whether transaction ``xid`` committed, asked on a new connection; ``_Unsettled`` if
    that cannot be known (the database unreachable, or the transaction still running)."""
    deadline = time.monotonic() + IN_DOUBT_WAIT
    try:
        while True:
            close_old_connections()
            with connections[database].cursor() as cursor:
                cursor.execute("SELECT pg_xact_status(%s::xid8)", [xid])
                (status,) = cursor.fetchone()
            if status in {"committed", "aborted"}:
                return status == "committed"
            if time.monotonic() >= deadline:
                raise _Unsettled()
            time.sleep(IN_DOUBT_POLL)
    except _Unsettled:
        raise
    except Exception as error:
        connections[database].close()
        raise _Unsettled() from error


class _ConnectionLost(Exception):
    """The writer's connection, not checked because it had just committed, was found broken."""


class _InDoubt(Exception):
    """The writer's connection broke during COMMIT: transaction ``xid`` may have committed,
    with ``results``."""

    def __init__(self, xid: str, results: list[WriteResult]) -> None:
        super().__init__(xid)
        self.xid = xid
        self.results = results


class _Unsettled(Exception):
    """Whether a commit whose answer was lost went through could not be found out."""


def _fail(item: tuple[WriteRequest, Future], error: Exception) -> None:
    """Every waiting request learns it failed (none is lost silently), and only of its own
    failure, told without the rows (``EventWriteError``)."""
    _log_failure(error, [item[0]], retrying=False)
    item[1].set_exception(EventWriteError())


def _log_failure(error: Exception, requests: list[WriteRequest], *, retrying: bool) -> None:
    # The database's primary message and SQLSTATE name the problem without quoting the data
    # (its DETAIL and CONTEXT lines may quote event values; they are not logged).
    diag = getattr(error, "diag", None)
    log.error(
        "event write failed for %d request(s) of workspace(s) %s: %s (sqlstate %s)%s",
        len(requests),
        sorted({request.workspace_id for request in requests}),
        getattr(diag, "message_primary", None) or type(error).__name__,
        getattr(error, "sqlstate", None),
        "; writing each request on its own" if retrying else "",
    )


_STOP = object()
# One writer per region's database; each starts its thread on its first write.
_writers = {alias: GroupCommitWriter(alias) for alias in data_aliases()}


def events_writer(database: str) -> GroupCommitWriter:
    """The process's writer for a region's database (``region_eu``)."""
    return _writers[database]


def events_writer_stop() -> None:
    """Stop every region's writer (tests, and worker shutdown)."""
    for writer in _writers.values():
        writer.stop()


def events_store(request: WriteRequest, *, group_commit: bool) -> WriteResult:
    """Durably store one request's events in its workspace's region: through that region's
    group-commit writer, or in a transaction of the caller's thread on the region's database
    (tests, management commands)."""
    database = workspace_db(request.workspace)
    if group_commit:
        return events_writer(database).write(request)
    try:
        with transaction.atomic(using=database):
            return events_write([request], using=database)[0]
    except (psycopg.Error, DatabaseError) as error:
        # The raw statement raises psycopg's errors, the ORM Django's: told without their rows.
        _log_failure(error, [request], retrying=False)
        raise EventWriteError() from None
