import json
from datetime import UTC, datetime

from django import template
from django.utils.dateparse import parse_datetime

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


@register.filter
def is_this_node(node):
    """Whether a block's `mined_by` names this node (its Ed25519 public key)."""
    return bool(node) and node == node_id()
