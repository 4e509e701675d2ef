"""Keyset pagination: a page is "the next N rows below a key", never an OFFSET the database must skip through."""

from dataclasses import dataclass


@dataclass(frozen=True)
class KeysetPage:
    items: list
    next_before: object  # the key to pass as `before` for the next (older) page, None on the last page


def keyset_page(rows, *, limit, key):
    """Cuts rows fetched as `limit + 1` newest-first into a page and the cursor of the one after it."""
    rows = list(rows)
    items = rows[:limit]
    more = len(rows) > limit
    return KeysetPage(items=items, next_before=key(items[-1]) if more and items else None)
