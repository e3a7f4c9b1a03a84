from django.contrib import admin
from django.urls import path

from jobs.api import api
from monitoring.health import healthz

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("healthz", healthz, name="healthz"),
]
