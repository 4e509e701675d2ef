"""Keyset pagination: a page is "the next N rows past a key", never an OFFSET the database must skip through."""

from dataclasses import dataclass


@dataclass(frozen=True)
class KeysetPage:
    items: list
    next_key: object  # the key of the page's last row, to read the next page past; None on the last page


def keyset_page(rows, *, limit, key):
    """Cuts rows fetched as `limit + 1` in key order into a page and the cursor of the one after it."""
    rows = list(rows)
    items = rows[:limit]
    more = len(rows) > limit
    return KeysetPage(items=items, next_key=key(items[-1]) if more and items else None)
