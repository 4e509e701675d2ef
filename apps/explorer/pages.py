"""The explorer's HTML pages: thin views over the same selectors as the API."""

from django.conf import settings
from django.shortcuts import redirect, render

from apps.federated.selectors import client_history
from apps.federated.services import round_audit_kept

from . import selectors
from .api import block_arguments, page_arguments
from .http import page_post_view, page_view
from .params import classify_query, parse_digest, parse_integer


@page_view
def block_list(request):
    before, limit = page_arguments(request)
    blocks, next_before = selectors.block_page(before=before, limit=limit)
    tip = selectors.main_tip()
    context = {"blocks": blocks, "next_before": next_before, "limit": limit, "before": before, "tip": tip}
    return render(request, "explorer/block_list.html", context)


@page_view
def block_detail(request, ref):
    block, after, limit = block_arguments(request, ref)
    detail = selectors.block_detail(block, after=after, limit=limit)
    return render(request, "explorer/block_detail.html", {"detail": detail, "after": after, "limit": limit})


@page_view
def record_detail(request, txid):
    row = selectors.record_find(parse_digest(txid, name="txid"))
    context = {
        "record": selectors.record_detail(row),
        "proof": selectors.record_proof(row),
        "stale": row.block.status == selectors.STALE,
    }
    return render(request, "explorer/record_detail.html", context)


@page_view
def search(request):
    query = request.GET.get("q", "")
    kind, value = classify_query(query)
    destination = selectors.search_destination(kind, value)
    if destination:
        return redirect(destination)
    context = {"query": query.strip(), "kind": kind}
    if kind == "prefix":
        context["matches"], context["cut"] = selectors.prefix_matches(value)
    return render(request, "explorer/search.html", context)


@page_view
def chain(request):
    overview = selectors.chain_overview()
    context = {
        "chain": overview,
        "history": selectors.chain_history(limit=settings.FEDCHAIN_EXPLORER_CHART_BLOCKS),
        "forks": overview["forks"],
    }
    return render(request, "explorer/chain.html", context)


@page_view
def client_detail(request, experiment_id, index):
    experiment = selectors.experiment_find(parse_integer(experiment_id, name="experiment"))
    client = selectors.client_find(experiment, parse_integer(index, name="client"))
    context = {"experiment": experiment, "client": client_history(client)}
    return render(request, "explorer/client_detail.html", context)


AUDIT_AGAIN = "federated.view_experiment"


@page_post_view(AUDIT_AGAIN)
def round_detail(request, experiment_id, number):
    """The round and its audit, kept once computed (round_audit_kept); POST audits it again (the blobs may have
    changed since), for users with the permission."""
    experiment = selectors.experiment_find(parse_integer(experiment_id, name="experiment"))
    row = selectors.round_find(experiment, parse_integer(number, name="round"))
    after = request.GET.get("clients_after")
    clients_after = None if after in (None, "") else parse_integer(after, name="clients_after")
    report, audited_at = round_audit_kept(experiment=experiment, number=row.number, again=request.method == "POST")
    if request.method == "POST":
        return redirect(request.path)
    context = {
        "experiment": experiment,
        "round": selectors.round_detail(experiment, row, report, clients_after=clients_after),
        "audited_at": audited_at,
        "can_audit": request.user.has_perm(AUDIT_AGAIN),
    }
    return render(request, "explorer/round_detail.html", context)


def api_docs(request):
    return render(request, "explorer/api_docs.html")
