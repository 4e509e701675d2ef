"""Parsing of the explorer's path and query parameters: framework-free, raising BadRequest with a plain message."""

import re

from .errors import BadRequest

HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")
# Shorter than this, a hash prefix names too much to be worth a search.
MIN_PREFIX = 4
HEX_PREFIX = re.compile(rf"[0-9a-fA-F]{{{MIN_PREFIX},63}}")
# Heights and ids are stored as 64-bit signed integers; a larger number cannot name anything.
MAX_INTEGER = 2**63 - 1


def parse_integer(text, *, name, minimum=0, maximum=MAX_INTEGER):
    """A non-negative decimal integer such as a height, an id or a round number."""
    text = (text or "").strip()
    if not text.isascii() or not text.isdigit():
        raise BadRequest(f"{name} must be a whole number (got {text[:80]!r}).", error=f"invalid_{name}")
    value = int(text)
    if not minimum <= value <= maximum:
        raise BadRequest(f"{name} must be between {minimum} and {maximum} (got {text[:80]}).", error=f"invalid_{name}")
    return value


def parse_digest(text, *, name):
    """A SHA-256 digest as 64 hexadecimal characters, returned in lower case."""
    text = (text or "").strip()
    if not HEX_DIGEST.fullmatch(text):
        raise BadRequest(
            f"{name} must be 64 hexadecimal characters (a SHA-256 digest); got {text[:80]!r}.",
            error=f"invalid_{name}",
        )
    return text.lower()


def parse_block_ref(text):
    """A block named by its height or its hash: ("height", int) or ("hash", lower-case hex)."""
    text = (text or "").strip()
    if text.isascii() and text.isdigit():
        return "height", parse_integer(text, name="height")
    if HEX_DIGEST.fullmatch(text):
        return "hash", text.lower()
    raise BadRequest(
        f"A block is named by its height (a whole number) or its hash (64 hexadecimal characters); got {text[:80]!r}.",
        error="invalid_block",
    )


# An empty value (`?limit=`) is refused like any other non-number: the API is strict about types, as its
# description says, and a page size or cursor left out is left out of the query string.
def parse_limit(text, *, default, maximum):
    if text is None:
        return default
    return parse_integer(text, name="limit", minimum=1, maximum=maximum)


def parse_optional_integer(text, *, name):
    if text is None:
        return None
    return parse_integer(text, name=name)


def classify_query(text):
    """What a search box entry can name: ("height", int), ("digest", hex), ("prefix", hex: the start of a hash)
    or ("text", stripped text)."""
    text = (text or "").strip()
    # A height is never written with leading zeros, while every block hash starts with them (its proof of
    # work): "0000ab" and "00001234" are hash prefixes, "1234" is a height.
    leading_zero = text.startswith("0") and len(text) >= MIN_PREFIX
    if text.isascii() and text.isdigit() and int(text) <= MAX_INTEGER and not leading_zero:
        return "height", int(text)
    if HEX_DIGEST.fullmatch(text):
        return "digest", text.lower()
    if HEX_PREFIX.fullmatch(text):
        return "prefix", text.lower()
    return "text", text
