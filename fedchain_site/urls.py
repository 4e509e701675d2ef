from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("apps.core.urls")),
    path("", include("apps.network.urls")),
    path("", include("apps.dashboard.urls")),
    path("", include("apps.explorer.urls")),
]
