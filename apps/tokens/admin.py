from django.contrib import admin, messages

from .models import ApiToken
from .services import api_token_create, api_token_revoke


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are created here with a user and a name; the token is shown once, in the message after saving."""

    list_display = ("prefix", "user", "name", "scopes", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("prefix", "name", "user__username")
    fields = ("user", "name", "scopes", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("prefix", "created_at", "last_used_at", "revoked_at")
    actions = ("revoke",)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields + (("user", "name", "scopes") if obj else ())

    def save_model(self, request, obj, form, change):
        if change:
            return  # a token's user, name and scopes are fixed; revoke it and create another
        try:
            row, token = api_token_create(user=obj.user, name=obj.name, scopes=obj.scopes or ["flower"])
        except ValueError as error:
            self.message_user(request, str(error), messages.ERROR)
            return
        obj.pk = row.pk
        obj.refresh_from_db()
        self.message_user(request, f"API token for {row.user}: {token}  (copy it now: it is not shown again)",
                          messages.WARNING)

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        for row in queryset:
            api_token_revoke(token=row)
        self.message_user(request, f"{queryset.count()} token(s) revoked")
