"""Writing minute figures: add up in memory per call or batch (``Figures``), then one
statement (``figures_write``) that adds every figure to its row — and, for ingestion, keeps
the batch's rejected events within their per-minute cap — in the caller's transaction.

Guarantees: a figure is only ever added to (``ON CONFLICT … DO UPDATE SET value = value +
EXCLUDED.value``), so writers in several processes never lose one another's counts; rows are
upserted in key order, so two concurrent writes take their row locks in the same order and
cannot deadlock; a workspace keeps at most ``REJECTED_KEPT_PER_MINUTE`` rejected events per
minute from one writer — writes committing at once each see only what was committed before
them, so a flood spread over several web processes may keep up to the cap once per process
(each has one writer per region); the figure counts every one.
"""

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
import psycopg
from django.db import connections

from destinations.metrics import (
    LATENCY_BUCKETS,
    LATENCY_EDGES_MS,
    REJECTED_KEPT_PER_MINUTE,
    SUBJECT_MAX,
)
from destinations.models import MinuteFigure, RejectedEvent


def minute_of(at: datetime) -> datetime:
    """``at`` truncated to its minute, in UTC (a figure's ``minute``)."""
    return at.astimezone(UTC).replace(second=0, microsecond=0)


def latency_bucket(ms: float) -> int:
    """The index of the histogram bucket that holds a duration of ``ms``."""
    return bisect_left(LATENCY_EDGES_MS, ms)


class Figures:
    """The figures of one call or batch, added up before they are written at once."""

    __slots__ = ("_rows",)

    def __init__(self) -> None:
        # (workspace id, minute, kind, subject) -> [value, count, buckets or None]
        self._rows: dict[tuple[int, datetime, str, str], list] = {}

    def __bool__(self) -> bool:
        return bool(self._rows)

    def add(
        self, *, workspace_id: int, at: datetime, kind: str, subject: str = "", value: int = 1
    ) -> None:
        if not value:
            return
        key = (workspace_id, minute_of(at), kind, subject[:SUBJECT_MAX])
        row = self._rows.get(key)
        if row is None:
            self._rows[key] = [value, 0, None]
        else:
            row[0] += value

    def add_latency(
        self, *, workspace_id: int, at: datetime, kind: str, subject: str, ms: float
    ) -> None:
        """One timed request: its duration added to the sum, the count and the histogram."""
        key = (workspace_id, minute_of(at), kind, subject[:SUBJECT_MAX])
        row = self._rows.get(key)
        if row is None:
            row = self._rows[key] = [0, 0, [0] * LATENCY_BUCKETS]
        row[0] += round(ms)
        row[1] += 1
        row[2][latency_bucket(ms)] += 1

    def rows(self) -> list[dict]:
        """The figures in key order (the order their row locks are taken in)."""
        return [
            {
                "workspace_id": workspace_id,
                "minute": minute,
                "kind": kind,
                "subject": subject,
                "value": value,
                "count": count,
                "buckets": buckets,
            }
            for (workspace_id, minute, kind, subject), (value, count, buckets) in sorted(
                self._rows.items()
            )
        ]


@dataclass(slots=True)
class RejectedRow:
    """A refused event as the debugger keeps it: names and reasons, never values."""

    workspace_id: int
    received_at: datetime
    message_id: str
    type: str
    name: str
    reason: str
    field: str
    message: str
    errors: list[dict]
    api_key: str
    source: str


_FIGURE = MinuteFigure._meta.db_table
_REJECTED = RejectedEvent._meta.db_table
_REJECTED_COLUMNS = (
    "workspace_id, received_at, message_id, type, name, reason, field, message, errors, "
    "api_key, source"
)

# The figures' upsert …
_FIGURES = f"""
figures AS (
    INSERT INTO {_FIGURE} AS f (workspace_id, minute, kind, subject, value, count, buckets)
    SELECT workspace_id, minute, kind, subject, value, count, buckets
    FROM jsonb_to_recordset(%(figures)s::jsonb) AS t(
        workspace_id bigint, minute timestamptz, kind text, subject text, value bigint,
        count bigint, buckets jsonb
    )
    ORDER BY workspace_id, minute, kind, subject
    ON CONFLICT (workspace_id, minute, kind, subject) DO UPDATE SET
        value = f.value + EXCLUDED.value,
        count = f.count + EXCLUDED.count,
        buckets = CASE
            WHEN f.buckets IS NULL THEN EXCLUDED.buckets
            WHEN EXCLUDED.buckets IS NULL THEN f.buckets
            ELSE (
                SELECT jsonb_agg(coalesce(a.n::bigint, 0) + coalesce(b.n::bigint, 0) ORDER BY ord)
                FROM jsonb_array_elements_text(f.buckets) WITH ORDINALITY AS a(n, ord)
                FULL JOIN jsonb_array_elements_text(EXCLUDED.buckets) WITH ORDINALITY AS b(n, ord)
                USING (ord)
            )
        END
    RETURNING 1
)"""  # noqa: S608 - only table and column names are formatted in, all values are parameters
# … and the rejected events within what is left of each (workspace, minute)'s cap (``n``: the
# row's rank in its minute within this write). A write without rejected events leaves them out
# (the statement costs about 40 % less).
_REJECTED_KEPT = f"""
rejected AS (
    SELECT * FROM jsonb_to_recordset(%(rejected)s::jsonb) AS r(
        workspace_id bigint, received_at timestamptz, message_id text, type text, name text,
        reason text, field text, message text, errors jsonb, api_key text, source text,
        minute timestamptz, n int
    )
),
room AS (
    SELECT m.workspace_id, m.minute, %(cap)s - (
        SELECT count(*) FROM {_REJECTED} AS k
        WHERE k.workspace_id = m.workspace_id
          AND k.received_at >= m.minute AND k.received_at < m.minute + interval '1 minute'
    ) AS room
    FROM (SELECT DISTINCT workspace_id, minute FROM rejected) AS m
),
kept AS (
    INSERT INTO {_REJECTED} ({_REJECTED_COLUMNS})
    SELECT {", ".join(f"rejected.{c.strip()}" for c in _REJECTED_COLUMNS.split(","))}
    FROM rejected JOIN room USING (workspace_id, minute)
    WHERE rejected.n <= room.room
    RETURNING 1
)"""  # noqa: S608 - only table and column names are formatted in, all values are parameters
_COUNTED = "SELECT (SELECT count(*) FROM figures), "
_WRITE_FIGURES = f"WITH {_FIGURES}\n{_COUNTED}0"
_WRITE = f"WITH {_FIGURES},{_REJECTED_KEPT}\n{_COUNTED}(SELECT count(*) FROM kept)"  # noqa: S608


def _dumps(value) -> str:
    return orjson.dumps(value).decode()


def _rejected_rows(rejected: Sequence[RejectedRow]) -> list[dict]:
    """The rows to offer, ranked within their (workspace, minute); a write never offers more
    than the cap per minute (the rest could not be kept anyway)."""
    ranks: dict[tuple[int, datetime], int] = {}
    rows = []
    for row in rejected:
        minute = minute_of(row.received_at)
        rank = ranks.get((row.workspace_id, minute), 0) + 1
        if rank > REJECTED_KEPT_PER_MINUTE:
            continue
        ranks[(row.workspace_id, minute)] = rank
        rows.append(
            {
                "workspace_id": row.workspace_id,
                "received_at": row.received_at,
                "message_id": row.message_id,
                "type": row.type,
                "name": row.name,
                "reason": row.reason,
                "field": row.field,
                "message": row.message,
                "errors": row.errors,
                "api_key": row.api_key,
                "source": row.source,
                "minute": minute,
                "n": rank,
            }
        )
    return rows


def figures_write(
    figures: Figures, *, using: str, rejected: Sequence[RejectedRow] = ()
) -> tuple[int, int]:
    """Add ``figures`` to their rows and keep ``rejected`` (within the cap) on the region's
    database ``using``, in one statement of the caller's transaction. Returns (figure rows
    written, rejected events kept)."""
    rejected_rows = _rejected_rows(rejected)
    if not figures and not rejected_rows:
        return 0, 0
    connection = connections[using]
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(
            _WRITE if rejected_rows else _WRITE_FIGURES,
            {
                "figures": _dumps(figures.rows()),
                "rejected": _dumps(rejected_rows),
                "cap": REJECTED_KEPT_PER_MINUTE,
            },
            # Prepared where the connection allows it (the group-commit writer's, ADR 0028).
            prepare=True,
        )
        written, kept = cursor.fetchone()
    return written, kept
