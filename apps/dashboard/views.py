import csv
import json
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from apps.core.permissions import permission_required_page
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

from apps.network.selectors import network_overview
from apps.ledger.sandbox import SandboxError, sandbox_check, sandbox_window

from . import selectors
from .scenarios import SCENARIOS, TAMPER, scenario_launch
from .protocol import finite

CONTROLS = {"pause": experiment_pause, "resume": experiment_resume, "cancel": experiment_cancel}
ADD, CHANGE = "federated.add_experiment", "federated.change_experiment"


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


def network(request):
    """This node's peers, disagreements, reorganisations and stale blocks; network.js refreshes it live from
    GET /api/network/."""
    return render(request, "dashboard/network.html", {"state": network_overview()})


def experiment_list(request):
    filters = {name: request.GET.get(name, "") for name in selectors.EXPERIMENT_FILTERS}
    page = Paginator(selectors.experiment_rows(filters), 50).get_page(request.GET.get("page"))
    choices = selectors.experiment_filter_choices()
    context = {
        "page": page,
        "filters": [(name, choices[name], filters[name]) for name in selectors.EXPERIMENT_FILTERS],
        "filtered": any(filters.values()),
        "query": urlencode({name: value for name, value in filters.items() if value}),
    }
    return render(request, "dashboard/experiment_list.html", context)


def experiment_detail(request, experiment_id):
    try:
        clients_after = _optional_number(request, "clients_after")
    except ValueError as error:
        detail = f"{error}: it is the client index a page of clients follows."
        return render(request, "400.html", {"detail": detail}, status=400)
    try:
        live = _live(selectors.experiment_state, experiment_id)
    except Experiment.DoesNotExist:
        raise Http404(f"There is no experiment {experiment_id}.") from None
    # The live state carries the first page of clients (the chart's); the page links those of ?clients_after=K.
    clients = selectors.client_page(experiment_id, after=clients_after)
    return render(
        request,
        "dashboard/experiment.html",
        {
            "live": live,
            "experiment": live["data"]["experiment"],
            "clients": clients.items,
            "clients_after": clients_after,
            "clients_next": clients.next_key,
            "can_control": request.user.has_perm(CHANGE),
            "controls": [("pause", "Pause", "secondary"), ("resume", "Resume", ""), ("cancel", "Cancel", "danger")],
        },
    )


def experiment_clients(request, experiment_id):
    if not selectors.experiment_exists(experiment_id):
        return JsonResponse({"error": f"there is no experiment {experiment_id}"}, status=404)
    return JsonResponse(finite(selectors.experiment_client_detail(experiment_id)))


@permission_required_page(ADD)
def experiment_new(request):
    form = ExperimentForm(request.POST or None)
    form.owner = request.user
    if request.method == "POST" and form.is_valid():
        try:
            experiment = experiment_launch(owner=request.user, **form.experiment_settings())
        except ValidationError as error:
            for field, errors in error.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, f"Experiment {experiment.id} started.")
            return redirect("dashboard:experiment", experiment_id=experiment.id)
    return render(request, "dashboard/experiment_new.html", {"form": form, "sections": form.sections()})


@require_POST
def demo_start(request):
    experiment = demo_launch()
    if experiment is None:
        messages.info(request, "The demo is offered on a first run only: there are experiments already.")
        return redirect("dashboard:overview")
    return redirect("dashboard:experiment", experiment_id=experiment.id)


@require_POST
@permission_required_page(CHANGE)
def experiment_control(request, experiment_id, action):
    experiment = get_object_or_404(Experiment, pk=int(experiment_id))
    try:
        CONTROLS[action](experiment=experiment)
    except LifecycleError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Experiment {experiment.id}: {action} done.")
    return redirect("dashboard:experiment", experiment_id=experiment.id)


def _experiment_ids(request):
    """The experiments a comparison names: ?ids=1,2,3 and/or ?ids=1&ids=2; (ids, problem or None)."""
    ids, problem = [], None
    for part in ",".join(request.GET.getlist("ids")).split(","):
        part = part.strip()
        if not part:
            continue
        if not (part.isascii() and part.isdigit() and len(part) <= 16):
            problem = f"{part[:30]!r} is not an experiment number."
            continue
        if int(part) not in ids:
            ids.append(int(part))
    if len(ids) > selectors.COMPARED_MAX:
        problem = f"A comparison shows at most {selectors.COMPARED_MAX} experiments; the first {selectors.COMPARED_MAX} are shown."
        ids = ids[: selectors.COMPARED_MAX]
    return ids, problem


def _smoothing(request):
    try:
        value = float(request.GET.get("smooth", "0"))
    except ValueError:
        return 0.0
    return min(0.99, max(0.0, value)) if value == value else 0.0


def experiment_compare(request):
    ids, problem = _experiment_ids(request)
    compared = selectors.experiments_compared(ids)
    if request.GET.get("format") == "json":
        return JsonResponse(finite({"experiments": compared["experiments"], "differing": compared["differing"]}))
    if compared["missing"]:
        missing = ", ".join(str(i) for i in compared["missing"])
        problem = " ".join(filter(None, [problem, f"There is no experiment {missing}."]))
    context = {
        "compared": compared,
        "ids": [e["id"] for e in compared["experiments"]],
        "problem": problem,
        "choices": Experiment.objects.order_by("-id")[:50],
        "smooth": _smoothing(request),
        "view": {"experiments": compared["experiments"], "differing": compared["differing"]},
        "scenario": SCENARIOS.get(request.GET.get("scenario", "")),
    }
    return render(request, "dashboard/compare.html", context)


class _Echo:
    """A file-like object whose write returns the line, so csv.writer can feed a streaming response."""

    def write(self, value):
        return value


def _download(rows, columns, *, fmt, filename):
    """rows (tuples in `columns` order) as a streamed CSV file or a JSON array of objects."""
    if fmt == "csv":
        writer = csv.writer(_Echo())
        lines = (writer.writerow(row) for row in _with_header(columns, rows))
        response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    else:
        response = StreamingHttpResponse(_json_array(columns, rows), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
    return response


def _with_header(columns, rows):
    yield columns
    yield from rows


def _json_array(columns, rows):
    yield "["
    for position, row in enumerate(rows):
        yield ("," if position else "") + "\n" + json.dumps(dict(zip(columns, finite(list(row)))))
    yield "\n]\n"


def _optional_number(request, name):
    value = request.GET.get(name)
    if value in (None, ""):
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 16):
        raise ValueError(f"{name} must be a whole number, not {value[:30]!r}")
    return int(value)


def experiment_download(request, experiment_id, what, fmt):
    """Metrics as CSV or JSON: rounds (?round=N for one) or client updates (?round=N and/or ?client=K)."""
    experiment_id = int(experiment_id)
    if not selectors.experiment_exists(experiment_id):
        return JsonResponse({"error": f"there is no experiment {experiment_id}"}, status=404)
    try:
        number = _optional_number(request, "round")
        client = _optional_number(request, "client") if what == "updates" else None
    except ValueError as error:
        return JsonResponse({"error": str(error)}, status=400)
    suffix = "".join(f"-{name}{value}" for name, value in (("round", number), ("client", client)) if value is not None)
    filename = f"experiment-{experiment_id}-{what}{suffix}"
    if what == "rounds":
        return _download(selectors.round_rows(experiment_id, number=number), selectors.ROUND_COLUMNS, fmt=fmt, filename=filename)
    rows = selectors.update_rows(experiment_id, number=number, client=client)
    return _download(rows, selectors.UPDATE_COLUMNS, fmt=fmt, filename=filename)


def scenario_list(request):
    return render(
        request,
        "dashboard/scenarios.html",
        {"scenarios": SCENARIOS, "tamper": TAMPER, "can_launch": request.user.has_perm(ADD)},
    )


@require_POST
@permission_required_page(ADD)
def scenario_start(request, key):
    if key not in SCENARIOS:
        raise Http404(f"There is no scenario {key!r}.")
    try:
        ids = scenario_launch(key, owner=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(message for messages_ in error.message_dict.values() for message in messages_))
        return redirect("dashboard:scenarios")
    messages.success(request, f"{SCENARIOS[key]['title']}: experiments {', '.join(map(str, ids))} started.")
    return redirect(f"{reverse('dashboard:compare')}?{urlencode({'ids': ','.join(map(str, ids)), 'scenario': key})}")


def scenario_tamper(request):
    live = _live(selectors.overview_state)
    window = sandbox_window()
    return render(
        request,
        "dashboard/tamper.html",
        {"live": live, "tamper": TAMPER, "window": window, "heights": list(range(window[1], window[0], -1)) if window else []},
    )


def scenario_tamper_check(request):
    """The sandbox copy checked as it is (no ?height) or with block ?height tampered with, as JSON."""
    height = request.GET.get("height")
    try:
        tamper_height = _optional_number(request, "height")
        return JsonResponse(finite(sandbox_check(tamper_height=tamper_height)))
    except (ValueError, SandboxError) as error:
        return JsonResponse({"error": str(error)[:300], "height": (height or "")[:30]}, status=400)
