"""Writes and checks of API tokens: the one place that creates, revokes and authenticates them."""

from django.db import transaction
from django.utils import timezone

from .models import ApiToken
from .tokens import SCOPES, token_digest, token_new, token_well_formed


class TokenRefused(Exception):
    """The request's token does not authenticate it for what it asks; the message says why (safe to show)."""


def api_token_create(*, user, name, scopes=("flower",)):
    """(ApiToken, token): the token itself is returned once and never stored."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ValueError(f"scopes must be some of {', '.join(SCOPES)}; got {', '.join(unknown) or 'none'}")
    if not name or len(name) > 100:
        raise ValueError("give the token a name of 1 to 100 characters")
    token, prefix, digest = token_new()
    with transaction.atomic():
        row = ApiToken.objects.create(user=user, name=name, prefix=prefix, digest=digest, scopes=sorted(set(scopes)))
    return row, token


def api_token_revoke(*, token):
    """Revokes the token (an ApiToken); revoking twice keeps the first time."""
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    token.refresh_from_db()
    return token


def api_token_authenticate(*, header, scope):
    """The user whose token is in the Authorization header ("Bearer <token>") and allows `scope`; TokenRefused
    otherwise. Records when the token was last used."""
    if not header:
        raise TokenRefused("this needs an API token: send the header 'Authorization: Bearer <token>'")
    kind, _, token = header.partition(" ")
    token = token.strip()
    if kind.lower() != "bearer" or not token_well_formed(token):
        raise TokenRefused("the Authorization header must be 'Bearer <token>' with a FedChain API token (fct_…)")
    row = ApiToken.objects.select_related("user").filter(digest=token_digest(token)).first()
    if row is None:
        raise TokenRefused("unknown API token")
    if not row.active:
        raise TokenRefused("this API token is revoked (or its user is inactive)")
    if scope not in row.scopes:
        raise TokenRefused(f"this API token does not allow {scope!r}")
    ApiToken.objects.filter(pk=row.pk).update(last_used_at=timezone.now())
    return row.user
