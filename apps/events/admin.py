from django.contrib import admin

from .models import Event


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["id", "type", "experiment_id", "created_at"]
    list_filter = ["type"]
    readonly_fields = ["type", "experiment_id", "payload", "created_at"]
