"""The one copy-and-verify engine: a workspace's data-plane rows from one database to another,
in batches, then the same figures computed on both sides (docs/regions.md). A region move
(source: the workspace's region) and ``regions adopt-legacy`` (source: the control database's
tables from before regions) both run it.

Everything is plain SQL on ``connections[alias]``: PostgreSQL's COPY in binary from the source
straight into the target, one target transaction per batch, an explicit column list on both
sides. Nothing here knows about moves, workspaces' states or the audit log.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connections, transaction

from destinations.residency.tables import TABLES, TableSpec, dependents

# (table, rows copied in this run so far, rows per second)
Progress = Callable[[str, int, float], None]


@dataclass(frozen=True)
class Figures:
    """What one side holds of one table for one workspace: its rows, and the sum over them of
    60 bits of the MD5 of each row's text. The sum is computed by PostgreSQL in one pass with
    constant memory (an ordered ``string_agg`` would hold and sort every row's text: 1M rows
    is tens of megabytes per table), does not depend on the order rows are read in, and any
    changed, missing or extra row moves it — two different sets of rows agreeing on both
    count and sum by accident is a 1-in-2^60 chance per table."""

    rows: int
    checksum: str

    def as_dict(self) -> dict:
        return {"rows": self.rows, "checksum": self.checksum}


class VerificationFailed(Exception):
    def __init__(self, table: str, source: Figures, target: Figures):
        super().__init__(
            f"{table}: the source holds {source.rows} rows (checksum {source.checksum}), "
            f"the target {target.rows} (checksum {target.checksum})"
        )
        self.table = table
        self.source = source
        self.target = target


def figures(spec: TableSpec, alias: str, workspace_id: int) -> Figures:
    """Count and checksum of the workspace's rows of ``spec`` in ``alias``. A row's text
    depends on a few settings (time zone, date style, float digits): they are fixed here, for
    this transaction, so that both databases write every row the same way."""
    query = (
        "SELECT count(*), coalesce(sum(('x' || substr(md5("  # noqa: S608 — names from TABLES
        f"{spec.row_text}), 1, 15))::bit(60)::bigint), 0) FROM {spec.table} t WHERE {spec.scope}"
    )
    with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
        cursor.execute("SET LOCAL TimeZone = 'UTC'")
        cursor.execute("SET LOCAL DateStyle = 'ISO, YMD'")
        cursor.execute("SET LOCAL IntervalStyle = 'postgres'")
        cursor.execute("SET LOCAL extra_float_digits = 1")
        cursor.execute(query, {"workspace": workspace_id})
        rows, total = cursor.fetchone()
    return Figures(rows=rows, checksum=f"md5-60-sum:{total}")


def count_rows(spec: TableSpec, alias: str, workspace_id: int) -> int:
    with connections[alias].cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM {spec.table} t WHERE {spec.scope}",  # noqa: S608
            {"workspace": workspace_id},
        )
        return cursor.fetchone()[0]


def _after(spec: TableSpec, last, upper=None) -> tuple[str, dict]:
    conditions, params = [], {}
    if last is not None:
        conditions.append(f"t.{spec.key} > %(last)s")
        params["last"] = last
    if upper is not None:
        conditions.append(f"t.{spec.key} <= %(upper)s")
        params["upper"] = upper
    return "".join(f" AND {condition}" for condition in conditions), params


def resume_point(spec: TableSpec, target: str, workspace_id: int):
    """The largest key of the workspace's rows the target already holds: a copy interrupted
    between batches goes on after it (each batch is committed whole, or not at all)."""
    with connections[target].cursor() as cursor:
        cursor.execute(
            f"SELECT max(t.{spec.key}) FROM {spec.table} t WHERE {spec.scope}",  # noqa: S608
            {"workspace": workspace_id},
        )
        return cursor.fetchone()[0]


def copy_table(
    spec: TableSpec,
    *,
    source: str,
    target: str,
    workspace_id: int,
    batch_size: int,
    progress: Progress | None = None,
) -> int:
    """Copy the workspace's rows of ``spec`` that the target does not hold yet; returns how
    many this call copied.

    Rows keep their ids. The target's own sequence is never behind a copied id of its own
    block: such a row was numbered by that same sequence before it left (a workspace that
    moves back), and a sequence never goes down; rows from elsewhere carry another block's ids
    (or the control database's legacy ids, below every block), which the sequence never
    reaches. So no ``setval`` is needed."""
    last = resume_point(spec, target, workspace_id)
    copied, started = 0, time.monotonic()
    while True:
        keys = _next_keys(spec, source, workspace_id, last, batch_size)
        if not keys:
            break
        _copy_batch(spec, source, target, workspace_id, last, keys[-1])
        copied += len(keys)
        last = keys[-1]
        if progress is not None:
            progress(spec.table, copied, copied / max(time.monotonic() - started, 1e-6))
    return copied


def _next_keys(spec: TableSpec, source: str, workspace_id: int, last, batch_size: int) -> list:
    after, params = _after(spec, last)
    with connections[source].cursor() as cursor:
        cursor.execute(
            f"SELECT t.{spec.key} FROM {spec.table} t "  # noqa: S608
            f"WHERE {spec.scope}{after} ORDER BY t.{spec.key} LIMIT %(batch)s",
            {"workspace": workspace_id, "batch": batch_size, **params},
        )
        return [row[0] for row in cursor.fetchall()]


def _copy_batch(spec: TableSpec, source: str, target: str, workspace_id: int, last, upper):
    after, params = _after(spec, last, upper)
    select = (
        f"SELECT {', '.join(f't.{c}' for c in spec.columns)} FROM {spec.table} t "  # noqa: S608
        f"WHERE {spec.scope}{after} ORDER BY t.{spec.key}"
    )
    with (
        transaction.atomic(using=target),
        connections[source].cursor() as reader,
        connections[target].cursor() as writer,
        reader.cursor.copy(
            f"COPY ({select}) TO STDOUT (FORMAT BINARY)",
            {"workspace": workspace_id, **params},
        ) as rows_out,
        writer.cursor.copy(
            f"COPY {spec.table} ({spec.column_list}) FROM STDIN (FORMAT BINARY)"
        ) as rows_in,
    ):
        for block in rows_out:
            rows_in.write(block)


def delete_rows(spec: TableSpec, alias: str, workspace_id: int, batch_size: int) -> int:
    """Delete the workspace's rows of ``spec`` from ``alias``, one transaction per batch;
    returns how many were deleted."""
    deleted = 0
    while True:
        with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {spec.table} WHERE ctid = ANY(ARRAY("  # noqa: S608
                f"SELECT t.ctid FROM {spec.table} t WHERE {spec.scope} LIMIT %(batch)s))",
                {"workspace": workspace_id, "batch": batch_size},
            )
            count = cursor.rowcount
        deleted += count
        if count == 0:
            return deleted


def copy_and_verify(
    spec: TableSpec,
    *,
    source: str,
    target: str,
    workspace_id: int,
    batch_size: int,
    progress: Progress | None = None,
) -> Figures:
    """Copy, then compare the figures of both sides. When they differ (a row committed late in
    the source, a row changed in the target), the target's rows of this table — and of the
    tables pointing at it, which are copied after it and so hold none yet — are deleted and
    the table copied once more; still different raises ``VerificationFailed``."""
    options = {"source": source, "target": target, "workspace_id": workspace_id}

    def copy_and_compare() -> tuple[Figures, Figures]:
        copy_table(spec, batch_size=batch_size, progress=progress, **options)
        return figures(spec, source, workspace_id), figures(spec, target, workspace_id)

    source_figures, target_figures = copy_and_compare()
    if source_figures != target_figures:
        for dependent in reversed(dependents(spec.table)):
            delete_rows(dependent, target, workspace_id, batch_size)
        source_figures, target_figures = copy_and_compare()
        if source_figures != target_figures:
            raise VerificationFailed(spec.table, source_figures, target_figures)
    return source_figures


def delete_workspace_rows(alias: str, workspace_id: int, batch_size: int) -> dict[str, int]:
    """Every data-plane row of the workspace in ``alias``, children first; rows per table."""
    return {
        spec.table: delete_rows(spec, alias, workspace_id, batch_size) for spec in reversed(TABLES)
    }
