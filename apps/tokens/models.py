from django.conf import settings
from django.db import models


class ApiToken(models.Model):
    """A user's API token: only its SHA-256 is stored (tokens.py says how tokens look and are checked)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="what the token is for, e.g. the federation that uses it")
    prefix = models.CharField(max_length=16, unique=True, help_text="the token's first characters, to tell tokens apart")
    digest = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the whole token")
    scopes = models.JSONField(default=list, help_text="what the token may do")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = "API token"

    def __str__(self):
        return f"{self.prefix}… ({self.name}) of {self.user}"

    @property
    def active(self):
        return self.revoked_at is None and self.user.is_active
