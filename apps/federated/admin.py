from django.contrib import admin

from apps.ledger.admin import ReadOnlyAdmin

from .config import SETTING_NAMES
from .forms import ExperimentForm
from .models import Client, ClientUpdate, Experiment, Round
from .services import experiment_create


class ClientInline(admin.TabularInline):
    model = Client
    fields = ["index", "shard_size", "label_counts"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    form = ExperimentForm
    list_display = ["id", "name", "dataset", "clients", "rounds", "partition", "model", "aggregator", "status",
                    "created_at"]
    list_filter = ["status", "dataset", "aggregator", "partition", "model"]
    search_fields = ["name"]
    inlines = [ClientInline]

    def get_readonly_fields(self, request, obj=None):
        # Recorded rounds and the chain depend on the settings: once created, they never change.
        if obj is None:
            return ["status", "error"]
        return ["name", *SETTING_NAMES, "status", "error", "created_at", "started_at", "finished_at"]

    def has_delete_permission(self, request, obj=None):
        # The chain keeps what was recorded; an experiment with rounds stays so that its records resolve.
        return super().has_delete_permission(request, obj) and (obj is None or not obj.round_set.exists())

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def save_model(self, request, obj, form, change):
        if change:
            return
        created = experiment_create(**form.experiment_settings())
        obj.pk = created.pk
        obj.refresh_from_db()


# Rounds, clients and updates are written by the engine with their ledger records, never by hand.


@admin.register(Client)
class ClientAdmin(ReadOnlyAdmin):
    list_display = ["experiment", "index", "shard_size", "label_counts"]
    list_filter = ["experiment"]


@admin.register(Round)
class RoundAdmin(ReadOnlyAdmin):
    list_display = ["experiment", "number", "test_loss", "test_accuracy", "baseline_accuracy", "clients_sampled",
                    "clients_accepted", "global_model_hash", "created_at"]
    list_filter = ["experiment"]
    search_fields = ["global_model_hash"]


@admin.register(ClientUpdate)
class ClientUpdateAdmin(ReadOnlyAdmin):
    list_display = ["round", "client", "samples", "train_loss", "accepted", "reason", "worker", "update_hash"]
    list_filter = ["accepted", "round__experiment"]
    search_fields = ["update_hash", "worker"]
    list_select_related = ["round", "client"]
