"""The JSON Schema formats a tracking plan asserts, fixed here rather than by whichever optional
packages happen to be installed (jsonschema checks some formats only when extra libraries are
present). Used by the validator, the fast path and the check of a schema on save."""

import re
from datetime import datetime

from jsonschema import FormatChecker


def _format_checker() -> FormatChecker:
    checker = FormatChecker(formats=("email", "idn-email", "ipv4", "ipv6", "date", "uuid", "regex"))
    checker.checks("date-time", raises=ValueError)(_is_date_time)
    return checker


_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})\Z", re.ASCII
)


def _is_date_time(value) -> bool:
    """RFC 3339 date-time (with an offset, as JSON Schema requires)."""
    if not isinstance(value, str):
        return True  # format applies to strings only
    if not _DATE_TIME.match(value):
        return False
    datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))  # ValueError: not real
    return True


FORMAT_CHECKER = _format_checker()
