"""``{{ seconds|duration }}``: a time span as people read it on the incident pages."""

from django import template

register = template.Library()


@register.filter
def duration(seconds) -> str:
    """``42 s``, ``12 min``, ``1 h 05 min``, ``2 d 3 h``."""
    try:
        seconds = max(0, int(seconds))
    except (TypeError, ValueError):
        return ""
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"
