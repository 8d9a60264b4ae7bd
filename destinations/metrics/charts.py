"""Stacked bar charts as SVG geometry, for the one chart template
(templates/destinations/destinations_chart.html): the destinations pages' deliveries per hour
and the Overview's events and deliveries per minute, hour or day. The view computes, the
template only draws (inline SVG with attributes and classes: the strict CSP allows no style).

Accessible: the SVG has a title and a description with the totals, every bar a title with its
values, and the figure a table of the same numbers (``rows``) for screen readers and for people
who would rather read.
"""

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

from django.utils import timezone

WIDTH, HEIGHT, TOP, BOTTOM = 720, 180, 12, 22


@dataclass(frozen=True, slots=True)
class Series:
    key: str  # the CSS class suffix (bar-<key>, legend-<key>)
    label: str  # "delivered", "failed attempts" …
    color: str  # the fill where app.css has no bar-<key> rule


def stacked_bars(
    *,
    starts: Sequence[datetime],
    values: dict[str, Sequence[int]],
    series: Sequence[Series],
    title: str,
    period: str,
    tick_every: int = 6,
    tick_format: str = "%H:%M",
    label_format: str = "%H:%M",
    empty: str = "Nothing in this period.",
) -> dict:
    """One bar per start, its series stacked bottom-up in ``series`` order; ``values[key]``
    has one number per start."""
    columns = [
        [values.get(s.key, [0] * len(starts))[i] for s in series] for i in range(len(starts))
    ]
    peak = max((sum(column) for column in columns), default=0)
    scale = max(peak, 1)
    plot = HEIGHT - TOP - BOTTOM
    slot = WIDTH / max(len(starts), 1)
    bars, rows = [], []
    for index, (start, column) in enumerate(zip(starts, columns, strict=True)):
        local = timezone.localtime(start)
        base = HEIGHT - BOTTOM
        segments = []
        for item, count in zip(series, column, strict=True):
            if not count:
                continue
            height = max(round(plot * count / scale, 2), 1)
            base -= height
            segments.append(
                {"kind": item.key, "color": item.color, "y": round(base, 2), "height": height}
            )
        when = local.strftime(label_format)
        bars.append(
            {
                "x": round(index * slot + slot * 0.15, 2),
                "width": round(slot * 0.7, 2),
                "segments": segments,
                "label": f"{when}: "
                + ", ".join(
                    f"{count} {item.label}" for item, count in zip(series, column, strict=True)
                ),
                "tick": local.strftime(tick_format) if index % tick_every == 0 else "",
                "tick_x": round(index * slot + slot / 2, 2),
            }
        )
        rows.append({"when": when, "values": column})
    totals = {item.key: sum(column[i] for column in columns) for i, item in enumerate(series)}
    legend = [{**asdict(item), "total": totals[item.key]} for item in series]
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "baseline": HEIGHT - BOTTOM,
        "tick_y": HEIGHT - 6,
        "peak": peak,
        "bars": bars,
        "totals": totals,
        "legend": legend,
        "title": title,
        "period": period,
        "description": f"{title}, {period}: "
        + ", ".join(f"{entry['total']} {entry['label']}" for entry in legend),
        "rows": rows,
        "empty": empty,
    }
