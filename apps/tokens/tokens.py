"""How API tokens look and are checked, without Django.

A token is "fct_" + 40 random URL-safe characters (240 bits). Only its SHA-256 is stored: a token is random, so a
fast hash is as strong as a slow one here, and checking it costs one hash and one indexed lookup. The prefix (the
first 12 characters) is stored in the clear so that people can tell their tokens apart.
"""

import hashlib
import re
import secrets

PREFIX = "fct_"
PREFIX_CHARS = 12
_TOKEN = re.compile(r"fct_[A-Za-z0-9_-]{40}")

# What a token may be allowed to do. "flower": declare external Flower federations and submit their rounds.
SCOPES = ("flower",)


def token_new():
    """(token, prefix, digest) of a fresh token."""
    token = PREFIX + secrets.token_urlsafe(30)
    return token, token[:PREFIX_CHARS], token_digest(token)


def token_digest(token):
    return hashlib.sha256(token.encode()).hexdigest()


def token_well_formed(token):
    return isinstance(token, str) and _TOKEN.fullmatch(token) is not None
