"""An anomaly's sparkline: its evidence's per-minute series (observed, baseline median, band
low, band high) as SVG geometry — points only, drawn by the template with attributes (the
strict CSP allows no inline style)."""

WIDTH = 300
HEIGHT = 60
PAD = 2


def sparkline(series) -> dict | None:
    """``{"width", "height", "observed", "median", "band", "peak", "last"}`` (SVG point lists),
    or None when the evidence has no usable series."""
    rows = [row for row in series or () if isinstance(row, list | tuple) and len(row) == 4]
    if len(rows) < 2:
        return None
    try:
        values = [[float(v) for v in row] for row in rows]
    except (TypeError, ValueError):
        return None
    peak = max(max(row[0], row[3]) for row in values) or 1.0
    step = (WIDTH - 2 * PAD) / (len(values) - 1)

    def x(i: int) -> str:
        return f"{PAD + i * step:.1f}"

    def y(v: float) -> str:
        return f"{HEIGHT - PAD - (HEIGHT - 2 * PAD) * max(v, 0.0) / peak:.1f}"

    has_band = any(row[3] > 0 for row in values)
    upper = [f"{x(i)},{y(row[3])}" for i, row in enumerate(values)]
    lower = [f"{x(i)},{y(row[2])}" for i, row in reversed(list(enumerate(values)))]
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "observed": " ".join(f"{x(i)},{y(row[0])}" for i, row in enumerate(values)),
        "median": " ".join(f"{x(i)},{y(row[1])}" for i, row in enumerate(values))
        if has_band
        else "",
        "band": " ".join(upper + lower) if has_band else "",
        "peak": round(peak, 2),
        "last": values[-1][0],
        "minutes": len(values),
    }
