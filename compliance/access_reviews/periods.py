"""Calendar quarters, the cadence of the scheduled reviews (pure: no database)."""

import datetime as dt


def quarter_label(moment: dt.datetime | dt.date) -> str:
    """``2026-Q4`` for any moment of October to December 2026."""
    return f"{moment.year}-Q{(moment.month - 1) // 3 + 1}"


def quarter_start(moment: dt.datetime) -> dt.datetime:
    """The first instant (UTC) of the calendar quarter ``moment`` falls in."""
    moment = moment.astimezone(dt.UTC)
    month = (moment.month - 1) // 3 * 3 + 1
    return dt.datetime(moment.year, month, 1, tzinfo=dt.UTC)


def next_quarter_start(moment: dt.datetime) -> dt.datetime:
    start = quarter_start(moment)
    month = start.month + 3
    year = start.year + (month > 12)
    return start.replace(year=year, month=(month - 1) % 12 + 1)
