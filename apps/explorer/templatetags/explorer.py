import json
from datetime import UTC, datetime

from django import template
from django.template.defaultfilters import floatformat
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from apps.core.keys import node_id

register = template.Library()


@register.filter
def epoch(seconds):
    """A header time (seconds since the epoch) as a UTC datetime."""
    try:
        return datetime.fromtimestamp(int(seconds), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


@register.filter
def isotime(text):
    """An ISO 8601 timestamp from the API dicts as a datetime."""
    return parse_datetime(text) if text else None


@register.filter
def short(digest, length=12):
    """The first characters of a digest, for tables; the full value stays in the link target and title."""
    return f"{digest[:length]}…" if digest and len(digest) > length else digest


@register.filter
def pretty_json(value):
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


@register.simple_tag
def node_ref(node):
    """Who mined a block, from its `mined_by`: the node's key id shortened, and whether it is this node. A tag,
    not an included template: the block list shows one per row."""
    if not node:
        return mark_safe('<span class="muted" title="no valid claim of who mined it came with this block">unknown</span>')
    badge = mark_safe(' <span class="badge">this node</span>') if node == node_id() else ""
    return format_html('<span class="mono" title="node {}">{}</span>{}', node, short(node), badge)


@register.simple_tag
def difficulty_ref(work_bits, difficulty):
    """A block's difficulty in bits, with Bitcoin's difficulty beside it (a tag: the block list shows one per
    row)."""
    if work_bits is None:
        return "—"
    bits = floatformat(work_bits, 1)
    return format_html(
        '<span class="difficulty" title="Difficulty in bits: finding this block takes about 2^{bits} hashes on '
        "average; each bit doubles the work. Bitcoin's difficulty, beside it, is how many times harder than the "
        'easiest target this chain allows (its pow limit).">{bits} bits</span> <span class="muted '
        'bitcoin-difficulty">· Bitcoin {difficulty}</span>',
        bits=bits, difficulty=floatformat(difficulty, "-4"),
    )
