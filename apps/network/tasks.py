"""The network's work in the worker processes: mining other nodes' rounds."""

from django.tasks import task

from .models import Peer


@task
def sync_peer(peer_id):
    """Syncs run in the network loop now (loop.py); this runs the ones queued by earlier versions."""
    peer = Peer.objects.filter(pk=peer_id).first()
    if peer is None:
        return None
    from .services import peer_sync

    return peer_sync(peer)


@task
def mine_shared(job_id):
    from .mining import shared_batch_mine_run

    return shared_batch_mine_run(job_id)
