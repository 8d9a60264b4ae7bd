"""Small filters for showing decoded consent: id lists and TCF restriction types."""

from django import template

register = template.Library()

RESTRICTION_NAMES = {0: "not allowed", 1: "consent required", 2: "legitimate interest required"}
MAX_IDS_SHOWN = 200


@register.filter
def sorted_ids(ids) -> str:
    """Ids as a compact list with runs folded: 1–4, 7, 755."""
    numbers = sorted(ids or ())
    parts: list[str] = []
    start = previous = None
    for number in numbers:
        if start is None:
            start = previous = number
        elif number == previous + 1:
            previous = number
        else:
            parts.append(str(start) if start == previous else f"{start}–{previous}")
            start = previous = number
    if start is not None:
        parts.append(str(start) if start == previous else f"{start}–{previous}")
    if len(parts) > MAX_IDS_SHOWN:
        return ", ".join(parts[:MAX_IDS_SHOWN]) + f", … ({len(parts) - MAX_IDS_SHOWN} more)"
    return ", ".join(parts)


@register.filter
def restriction_name(restriction_type: int) -> str:
    return RESTRICTION_NAMES.get(restriction_type, f"type {restriction_type}")


@register.filter
def get_item(mapping, key):
    return mapping.get(key, key)
