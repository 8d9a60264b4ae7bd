"""Percentiles and the printed table."""

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(samples: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (an observed value, never an interpolation)."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def micros(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f}"


@dataclass(frozen=True)
class Row:
    figure: str
    result: str
    p50_us: str = ""
    p99_us: str = ""
    check: str = ""

    @classmethod
    def with_latencies(
        cls, figure: str, result: str, latencies: Sequence[float], check: str = ""
    ) -> "Row":
        if not latencies:
            return cls(figure, result, "-", "-", check)
        return cls(
            figure,
            result,
            micros(percentile(latencies, 50)),
            micros(percentile(latencies, 99)),
            check,
        )


HEADINGS = Row("figure", "result", "p50 µs", "p99 µs", "check")
RIGHT_ALIGNED = {"result", "p50_us", "p99_us"}


def table(rows: Sequence[Row]) -> str:
    fields = list(Row.__dataclass_fields__)
    everything = [HEADINGS, *rows]
    widths = {f: max(len(getattr(row, f)) for row in everything) for f in fields}

    def line(row: Row) -> str:
        cells = []
        for f in fields:
            value = getattr(row, f)
            aligned = value.rjust if f in RIGHT_ALIGNED else value.ljust
            cells.append(aligned(widths[f]))
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * widths[f] for f in fields)
    return "\n".join([line(HEADINGS), rule, *(line(row) for row in rows)])
