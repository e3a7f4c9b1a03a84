from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from jobs.api.metrics import metrics
from jobs.api.views import api
from monitoring.health import healthz

urlpatterns = [
    path("admin/queues/", include("monitoring.urls")),  # before admin/, whose catch-all would 404 it
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    path("", RedirectView.as_view(pattern_name="monitoring:queues")),  # "View site" and a bare URL land here
]
