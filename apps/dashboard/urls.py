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
    re_path(
        r"^experiments/(?P<experiment_id>[0-9]+)/(?P<action>pause|resume|cancel)/$",
        views.experiment_control,
        name="experiment_control",
    ),
]
