"""Admin for the chain: everything that is part of the chain is read-only (editing it would break it)."""

from django.contrib import admin

from apps.core.admin import ReadOnlyAdmin, ReadOnlyInline

from .models import Block, Checkpoint, PendingBatch, Record


class RecordInline(ReadOnlyInline):
    model = Record
    fields = ["position", "type", "txid", "body"]
    readonly_fields = fields


@admin.register(Block)
class BlockAdmin(ReadOnlyAdmin):
    list_display = ["height", "hash", "status", "experiment_id", "round_number", "records_count", "bits", "time", "mined_seconds"]
    list_filter = ["status"]
    search_fields = ["hash", "prev_hash", "merkle_root"]
    inlines = [RecordInline]


@admin.register(Record)
class RecordAdmin(ReadOnlyAdmin):
    list_display = ["txid", "type", "block", "position", "experiment_id", "round_number"]
    list_filter = ["type"]
    search_fields = ["txid"]
    list_select_related = ["block"]


@admin.register(PendingBatch)
class PendingBatchAdmin(ReadOnlyAdmin):
    list_display = ["experiment_id", "round_number", "status", "difficulty_bits", "block", "created_at", "mined_at"]
    list_filter = ["status"]


@admin.register(Checkpoint)
class CheckpointAdmin(ReadOnlyAdmin):
    list_display = ["height", "hash", "created_at"]
