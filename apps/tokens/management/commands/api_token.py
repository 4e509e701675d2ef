"""Creates, lists and revokes users' API tokens (what a Flower ServerApp's ChainRecorder authenticates with)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from apps.tokens.models import ApiToken
from apps.tokens.services import api_token_create, api_token_revoke
from apps.tokens.tokens import SCOPES


class Command(BaseCommand):
    help = "Create, list or revoke API tokens. The token is printed once, at creation; only its hash is stored."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="create a token for a user and print it")
        create.add_argument("username")
        create.add_argument("--name", default="flower", help="what the token is for")
        create.add_argument("--scope", action="append", choices=SCOPES, help="what it may do (default: flower)")
        listing = actions.add_parser("list", help="list tokens (never the tokens themselves)")
        listing.add_argument("username", nargs="?")
        revoke = actions.add_parser("revoke", help="revoke a token by its prefix")
        revoke.add_argument("prefix")

    def handle(self, *args, action, **options):
        getattr(self, f"_{action}")(**options)

    def _create(self, *, username, name, scope, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"there is no user {username!r}")
        try:
            row, token = api_token_create(user=user, name=name, scopes=scope or ["flower"])
        except ValueError as error:
            raise CommandError(str(error)) from None
        self.stderr.write(f"token {row.prefix}… ({row.name}) for {username}, scopes {', '.join(row.scopes)}; "
                          "it is shown only now:")
        self.stdout.write(token)

    def _list(self, *, username=None, **options):
        rows = ApiToken.objects.select_related("user").order_by("id")
        if username:
            rows = rows.filter(user__username=username)
        for row in rows:
            state = "revoked" if row.revoked_at else "active"
            used = row.last_used_at.isoformat() if row.last_used_at else "never"
            self.stdout.write(f"{row.prefix}…  {row.user.username}  {row.name}  {','.join(row.scopes)}  {state}  "
                              f"last used {used}")

    def _revoke(self, *, prefix, **options):
        matches = list(ApiToken.objects.filter(prefix__startswith=prefix.rstrip("…")))
        if len(matches) != 1:
            raise CommandError(f"{len(matches)} tokens start with {prefix!r}: give more of the prefix")
        api_token_revoke(token=matches[0])
        self.stdout.write(f"token {matches[0].prefix}… revoked")
