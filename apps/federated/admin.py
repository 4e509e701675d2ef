from django.contrib import admin, messages

from apps.core.admin import ReadOnlyAdmin, ReadOnlyInline

from .config import SETTING_NAMES
from .forms import ExperimentForm
from .lifecycle import LifecycleError, experiment_cancel, experiment_pause, experiment_resume, experiment_start
from .models import Client, ClientUpdate, Experiment, Round
from .services import experiment_create


class ClientInline(ReadOnlyInline):
    model = Client
    fields = ["index", "shard_size", "label_counts"]
    readonly_fields = fields
    show_change_link = True


def _lifecycle_action(service, done):
    """An admin action applying a lifecycle service to each selected experiment, saying what did not apply."""

    def action(modeladmin, request, queryset):
        changed = 0
        for experiment in queryset:
            try:
                service(experiment=experiment)
            except LifecycleError as error:
                modeladmin.message_user(request, str(error), messages.WARNING)
            else:
                changed += 1
        if changed:
            modeladmin.message_user(request, f"{changed} experiment(s) {done}.", messages.SUCCESS)

    action.__name__ = service.__name__
    verb = service.__name__.removeprefix("experiment_").capitalize()
    return admin.action(description=f"{verb} the selected experiments")(action)


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    form = ExperimentForm
    list_display = ["id", "name", "dataset", "clients", "rounds", "partition", "model", "aggregator", "status",
                    "created_at"]
    list_filter = ["status", "dataset", "aggregator", "partition", "model"]
    search_fields = ["name"]
    inlines = [ClientInline]
    # The worker processes run the experiment; these only change what they are asked to do.
    actions = [
        _lifecycle_action(experiment_start, "started"),
        _lifecycle_action(experiment_pause, "paused"),
        _lifecycle_action(experiment_resume, "resumed"),
        _lifecycle_action(experiment_cancel, "cancelled"),
    ]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)  # a class of this request's own
        form.owner = request.user
        return form

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
        created = experiment_create(owner=request.user, **form.experiment_settings())
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
                    "clients_dropped", "clients_accepted", "global_model_hash", "created_at"]
    list_filter = ["experiment"]
    search_fields = ["global_model_hash"]


@admin.register(ClientUpdate)
class ClientUpdateAdmin(ReadOnlyAdmin):
    list_display = ["round", "client", "samples", "train_loss", "accepted", "reason", "worker", "update_hash"]
    list_filter = ["accepted", "round__experiment"]
    search_fields = ["update_hash", "worker"]
    list_select_related = ["round", "client"]
