"""The destination inventory as files: JSON (the rows as ``inventory_rows`` gives them, with
the workspace and the time) and CSV (one line per destination; lists joined with "; ").

Both are bytes, so the auditor package can hash them as they are. A cell that a spreadsheet
would run as a formula (it starts with =, +, -, @, a tab or a carriage return) is written
with a leading apostrophe: a destination's name or purpose is the workspace's own text.
"""

import csv
import io

import orjson
from django.utils import timezone

from compliance.inventory.selectors import ALL_EVENTS, COLUMNS, inventory_rows

FORMAT = "tracklayer.destination-inventory.v1"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def inventory_json(*, workspace) -> bytes:
    document = {
        "format": FORMAT,
        "workspace_id": workspace.public_id,
        "generated_at": timezone.now(),
        "destinations": inventory_rows(workspace=workspace),
    }
    return orjson.dumps(document, option=orjson.OPT_INDENT_2)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _identifiers(items: list[dict]) -> str:
    return "; ".join(f"{i['name']} ({'SHA-256' if i['hashed'] else 'not hashed'})" for i in items)


def inventory_csv(*, workspace) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in inventory_rows(workspace=workspace):
        values = dict(row)
        sent = values["event_types_sent"]
        values["event_types_sent"] = ALL_EVENTS if sent == ALL_EVENTS else "; ".join(sent)
        values["data_categories"] = "; ".join(values["data_categories"])
        values["identifiers"] = _identifiers(values["identifiers"])
        values["consent_requirements"] = "; ".join(values["consent_requirements"])
        writer.writerow([_cell(values[column]) for column in COLUMNS])
    return out.getvalue().encode("utf-8")
