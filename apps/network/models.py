from django.db import models


class Peer(models.Model):
    """Another node this node talks to, and what it last saw of it. Nothing here is trusted chain data: a
    peer's tip is only what it claims, until our own rules accept its blocks."""

    class Source(models.TextChoices):
        CONFIG = "config"  # FEDCHAIN_PEERS
        MANUAL = "manual"  # manage.py peer add
        LEARNED = "learned"  # from another peer's list or announcement

    url = models.CharField(max_length=200, unique=True, help_text="base URL, e.g. http://10.0.0.2:8000")
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.MANUAL)
    node_id = models.CharField(max_length=64, blank=True, help_text="the Ed25519 public key it names itself by")
    tip_height = models.BigIntegerField(null=True, blank=True)
    tip_hash = models.CharField(max_length=64, blank=True)
    chainwork = models.CharField(max_length=64, blank=True)
    latency_ms = models.FloatField(null=True, blank=True, help_text="round trip of its last hello")
    last_seen = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    failures = models.PositiveIntegerField(default=0, help_text="requests failed in a row")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    score = models.FloatField(default=0.0, help_text="misbehaviour points (decaying); banned at 100")
    scored_at = models.DateTimeField(null=True, blank=True)
    banned_until = models.DateTimeField(null=True, blank=True)
    sync_queued_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True, help_text="when a sync from it last completed")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["url"]

    def __str__(self):
        return self.url


class Misbehaviour(models.Model):
    """What a peer did wrong, kept for the dashboard and the operator."""

    peer = models.ForeignKey(Peer, null=True, blank=True, on_delete=models.CASCADE, related_name="offences")
    address = models.CharField(max_length=200, blank=True, help_text="where it came from, when no peer is known")
    offence = models.CharField(max_length=32)
    detail = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
