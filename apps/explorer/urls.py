from django.urls import include, path, re_path

from . import api, flower_api, pages

explorer_patterns = [
    path("blocks/", pages.block_list, name="blocks"),
    path("blocks/<str:ref>/", pages.block_detail, name="block"),
    path("tx/<str:txid>/", pages.record_detail, name="record"),
    path("search", pages.search, name="search"),
    path("chain/", pages.chain, name="chain"),
]

# Its own namespace, so the site navigation marks "Experiments" as the current section. The dashboard serves
# /experiments/ and /experiments/<id>/.
experiment_patterns = [
    path("experiments/<str:experiment_id>/rounds/<str:number>/", pages.round_detail, name="round"),
    path("experiments/<str:experiment_id>/clients/<str:index>/", pages.client_detail, name="client"),
]

api_patterns = [
    path("api/schema/", api.schema, name="schema"),
    path("api/docs/", pages.api_docs, name="docs"),
    path("api/chain/", api.chain, name="chain"),
    path("api/network/", api.network, name="network"),
    path("api/blocks/", api.block_list, name="blocks"),
    path("api/blocks/<str:ref>/", api.block_detail, name="block"),
    path("api/tx/<str:txid>/", api.record_detail, name="record"),
    path("api/tx/<str:txid>/proof/", api.record_proof, name="proof"),
    path("api/experiments/", api.experiment_list, name="experiments"),
    path("api/experiments/<str:experiment_id>/", api.experiment_detail, name="experiment"),
    path("api/experiments/<str:experiment_id>/rounds/", api.round_list, name="rounds"),
    path("api/experiments/<str:experiment_id>/balances/", api.balances, name="balances"),
    path("api/experiments/<str:experiment_id>/clients/<str:index>/", api.client_detail, name="client"),
    path("api/experiments/<str:experiment_id>/pause/", api.experiment_pause_view, name="experiment_pause"),
    path("api/experiments/<str:experiment_id>/resume/", api.experiment_resume_view, name="experiment_resume"),
    path("api/experiments/<str:experiment_id>/cancel/", api.experiment_cancel_view, name="experiment_cancel"),
    path("api/models/<str:sha256>/", api.model_blob, name="model"),
    path("api/flower/experiments/", flower_api.experiment_declare, name="flower_experiments"),
    path("api/flower/experiments/<str:experiment_id>/rounds/", flower_api.round_submit, name="flower_rounds"),
    # Anything else under /api/ ending in a slash is a JSON 404 (without the slash, Django first redirects).
    re_path(r"^api/(?:.*/)?$", api.not_found, name="not_found"),
]

urlpatterns = [
    path("", include((explorer_patterns, "explorer"))),
    path("", include((experiment_patterns, "experiments"))),
    path("", include((api_patterns, "api"))),
]
