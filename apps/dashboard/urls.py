from django.urls import path, re_path

from . import views

app_name = "dashboard"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("demo/", views.demo_start, name="demo"),
    path("experiments/", views.experiment_list, name="experiments"),
    path("experiments/new/", views.experiment_new, name="experiment_new"),
    path("experiments/<int:experiment_id>/", views.experiment_detail, name="experiment"),
    path("experiments/<int:experiment_id>/clients.json", views.experiment_clients, name="experiment_clients"),
    path("compare/", views.experiment_compare, name="compare"),
    path("network/", views.network, name="network"),
    path("scenarios/", views.scenario_list, name="scenarios"),
    path("scenarios/tamper/", views.scenario_tamper, name="scenario_tamper"),
    path("scenarios/tamper/check.json", views.scenario_tamper_check, name="scenario_tamper_check"),
    path("scenarios/<slug:key>/", views.scenario_start, name="scenario_start"),
    re_path(
        r"^experiments/(?P<experiment_id>[0-9]{1,16})/(?P<what>rounds|updates)\.(?P<fmt>csv|json)$",
        views.experiment_download,
        name="experiment_download",
    ),
    re_path(
        r"^experiments/(?P<experiment_id>[0-9]+)/(?P<action>pause|resume|cancel)/$",
        views.experiment_control,
        name="experiment_control",
    ),
]
