"""manage.py peer add|remove|list [URL]: the peers this node talks to."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from apps.network.models import Peer
from apps.network.protocol import ProtocolError
from apps.network.services import peer_add, peer_banned, peer_remove


class Command(BaseCommand):
    help = "Add, remove or list this node's peers."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["add", "remove", "list"])
        parser.add_argument("url", nargs="?", help="the peer's base URL, e.g. http://10.0.0.2:8000")

    def handle(self, *args, action, url, **options):
        if action == "list":
            now = timezone.now()
            for peer in Peer.objects.all():
                state = "banned" if peer_banned(peer, now) else ("seen" if peer.last_seen else "never seen")
                tip = f"tip {peer.tip_height} {peer.tip_hash[:16]}" if peer.tip_hash else "tip unknown"
                latency = f"{peer.latency_ms:.0f} ms" if peer.latency_ms is not None else "-"
                self.stdout.write(f"{peer.url}  {peer.source}  {state}  {tip}  {latency}  score {peer.score:.0f}")
            return
        if not url:
            raise CommandError(f"peer {action} needs a URL")
        if action == "add":
            try:
                peer = peer_add(url=url)
            except ProtocolError as error:
                raise CommandError(str(error)) from None
            self.stdout.write(f"peer {peer.url} added")
        elif not peer_remove(url=url):
            raise CommandError(f"there is no peer {url}")
        else:
            self.stdout.write(f"peer {url} removed")
