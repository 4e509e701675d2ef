from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from apps.federated.forms import ExperimentForm
from apps.federated.demo import demo_launch
from apps.federated.lifecycle import (
    LifecycleError,
    experiment_cancel,
    experiment_launch,
    experiment_pause,
    experiment_resume,
)
from apps.federated.models import Experiment

from . import selectors
from .protocol import finite

CONTROLS = {"pause": experiment_pause, "resume": experiment_resume, "cancel": experiment_cancel}

# The new-experiment form, in the order one thinks about an experiment.
FORM_SECTIONS = [
    ("Experiment", ["name", "seed", "rounds"]),
    ("Data and clients", ["dataset", "synthetic_samples", "clients", "partition", "alpha", "classes_per_client"]),
    ("Model and local training", ["model", "hidden", "local_epochs", "batch_size", "lr", "mu"]),
    ("Aggregation", ["aggregator", "trim_ratio", "byzantine", "krum_select", "fraction", "min_clients"]),
    ("Chain and comparison", ["difficulty_bits", "baseline"]),
]


def _live(build, *args):
    seq, state = selectors.snapshot(build, *args)
    return {"seq": seq, "data": finite(state)}


def overview(request):
    live = _live(selectors.overview_state)
    return render(
        request,
        "dashboard/overview.html",
        {"live": live, "offer_demo": live["data"]["experiment_count"] == 0},
    )


def experiment_list(request):
    page = Paginator(Experiment.objects.order_by("-id"), 50).get_page(request.GET.get("page"))
    return render(request, "dashboard/experiment_list.html", {"page": page})


def experiment_detail(request, experiment_id):
    try:
        live = _live(selectors.experiment_state, experiment_id)
    except Experiment.DoesNotExist:
        raise Http404(f"There is no experiment {experiment_id}.") from None
    return render(
        request,
        "dashboard/experiment.html",
        {
            "live": live,
            "experiment": live["data"]["experiment"],
            "can_control": request.user.is_staff,
            "controls": [("pause", "Pause", "secondary"), ("resume", "Resume", ""), ("cancel", "Cancel", "danger")],
        },
    )


def experiment_clients(request, experiment_id):
    if not selectors.experiment_exists(experiment_id):
        return JsonResponse({"error": f"there is no experiment {experiment_id}"}, status=404)
    return JsonResponse(finite(selectors.experiment_client_detail(experiment_id)))


@staff_member_required
def experiment_new(request):
    form = ExperimentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            experiment = experiment_launch(**form.experiment_settings())
        except ValidationError as error:
            for field, errors in error.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, f"Experiment {experiment.id} started.")
            return redirect("dashboard:experiment", experiment_id=experiment.id)
    sections = [(title, [form[name] for name in names]) for title, names in FORM_SECTIONS]
    return render(request, "dashboard/experiment_new.html", {"form": form, "sections": sections})


@require_POST
def demo_start(request):
    experiment = demo_launch()
    if experiment is None:
        messages.info(request, "The demo is offered on a first run only: there are experiments already.")
        return redirect("dashboard:overview")
    return redirect("dashboard:experiment", experiment_id=experiment.id)


@require_POST
@staff_member_required
def experiment_control(request, experiment_id, action):
    experiment = get_object_or_404(Experiment, pk=int(experiment_id))
    try:
        CONTROLS[action](experiment=experiment)
    except LifecycleError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Experiment {experiment.id}: {action} done.")
    return redirect("dashboard:experiment", experiment_id=experiment.id)
