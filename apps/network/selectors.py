"""Reads of the network app: the peers as the dashboard shows them, and where they disagree with this node."""

from datetime import timedelta

from django.utils import timezone

from apps.core.keys import node_id
from apps.events.models import Event
from apps.ledger.models import Block
from apps.ledger.reads import block_payload

from .models import Misbehaviour, Peer
from .services import peer_banned

SEEN_RECENTLY = timedelta(minutes=5)


def peers_overview() -> list[dict]:
    now = timezone.now()
    return [
        {
            "url": peer.url,
            "node": peer.node_id,
            "source": peer.source,
            "tip_height": peer.tip_height,
            "tip_hash": peer.tip_hash,
            "chainwork": peer.chainwork,
            "latency_ms": peer.latency_ms,
            "last_seen": peer.last_seen.isoformat() if peer.last_seen else None,
            "score": round(peer.score, 1),
            "banned": peer_banned(peer, now),
            "error": peer.last_error,
        }
        for peer in Peer.objects.all()
    ]


def chain_disagreements() -> list[dict]:
    """Peers seen lately whose tip is not on this node's main chain although their chain has at least as much
    work as ours, seen in the last five minutes (what they claim: the next sync checks it): this node is behind, or its chain was rewritten."""
    tip = Block.objects.filter(status=Block.Status.MAIN).order_by("-height").first()
    if tip is None:
        return []
    ours = tip.chainwork_int
    recent = Peer.objects.filter(last_seen__gt=timezone.now() - SEEN_RECENTLY).exclude(tip_hash="")
    found = []
    for peer in recent:
        if peer_banned(peer) or not peer.chainwork:
            continue
        if Block.objects.filter(status=Block.Status.MAIN, hash=peer.tip_hash).exists():
            continue  # the peer is on our chain (behind or level)
        work = int(peer.chainwork, 16)
        if work >= ours:
            found.append({
                "peer": peer.url, "tip_height": peer.tip_height, "tip_hash": peer.tip_hash,
                "heavier": work > ours,
            })
    return found


def disagreement_notes() -> list[str]:
    """chain_disagreements in words (verify_chain prints them)."""
    return [
        f"network: peer {d['peer']} holds {'a heavier' if d['heavier'] else 'an equally heavy'} chain whose tip "
        f"{d['tip_height']} {d['tip_hash']} is not on this node's main chain"
        + ("" if d["heavier"] else "; if this node's chain was rewritten, `manage.py chain_repair` restores the peers'")
        for d in chain_disagreements()
    ]


def offences_recent(limit=20) -> list[dict]:
    return [
        {"peer": o.peer.url if o.peer else o.address, "offence": o.offence, "detail": o.detail[:300],
         "at": o.created_at.isoformat()}
        for o in Misbehaviour.objects.select_related("peer")[:limit]
    ]



REORGS_SHOWN = 20
STALE_SHOWN = 20


def network_overview() -> dict:
    """This node in its network (JSON-ready; the dashboard's network page and GET /api/network/): its id and tip,
    its peers (tips, latency, last seen, score), the peers whose chain disagrees with ours, the latest
    reorganisations, stale blocks and refused peer messages."""
    reorgs = Event.objects.filter(type=Event.Type.REORG).order_by("-id")[:REORGS_SHOWN]
    stale = Block.objects.filter(status=Block.Status.STALE).order_by("-height", "-id")[:STALE_SHOWN]
    tip = Block.objects.filter(status=Block.Status.MAIN).order_by("-height").first()
    return {
        "node": node_id(),
        "tip": {"height": tip.height, "hash": tip.hash} if tip else None,
        "peers": peers_overview(),
        "disagreements": chain_disagreements(),
        "reorgs": [
            {
                "seq": event.id,
                "at": event.created_at.isoformat(),
                "repair": bool(event.payload.get("repair")),
                "fork_height": event.payload["fork"]["height"],
                "old_tip": event.payload["old_tip"],
                "new_tip": event.payload["new_tip"],
                "left": len(event.payload.get("stale", [])),
                "joined": len(event.payload.get("main", [])),
            }
            for event in reorgs
        ],
        "stale_count": Block.objects.filter(status=Block.Status.STALE).count(),
        "stale": [block_payload(block) for block in stale],
        "offences": offences_recent(),
    }
