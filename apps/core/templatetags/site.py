"""Template filters every page uses: times that read both ways, percentages, copyable hashes."""

from datetime import UTC, datetime

from django import template
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html

register = template.Library()


@register.filter
def when(value):
    """A datetime (or epoch seconds, or an ISO 8601 text) as <time>: the absolute UTC time, which static/js/site.js follows with
    how long ago it was ("3 min ago"), kept current."""
    if value is None or value == "":
        return "–"
    if isinstance(value, str):
        value = parse_datetime(value)
        if value is None:
            return "–"
    if isinstance(value, (int, float)):
        try:
            value = datetime.fromtimestamp(int(value), UTC)
        except (OverflowError, OSError, ValueError):
            return "–"
    value = value.astimezone(UTC)
    return format_html(
        '<time datetime="{}" class="when">{} UTC</time>', value.isoformat(), value.strftime("%Y-%m-%d %H:%M:%S")
    )


@register.filter
def percent(value):
    return "–" if value is None else f"{value * 100:.1f} %"


@register.filter
def lookup(mapping, key):
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.filter
def copyable(digest):
    """A full hash in monospace with a copy button (the button's behaviour is static/js/site.js's)."""
    if not digest:
        return "–"
    return format_html(
        '<span class="copyable"><span class="mono">{}</span>'
        '<button type="button" class="copy" data-copy="{}" title="Copy to the clipboard" aria-label="Copy">Copy</button></span>',
        digest,
        digest,
    )


SHORT_ID_DIGITS = 6


@register.filter
def short_id(value):
    """An experiment id for tables: ids name experiments across nodes and run to 16 digits; the last digits tell
    this node's apart (the full id stays in links and titles)."""
    text = str(value)
    return text if len(text) <= SHORT_ID_DIGITS + 1 else f"…{text[-SHORT_ID_DIGITS:]}"
