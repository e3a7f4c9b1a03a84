"""Mounted at /admin/queues/ (before the admin's own URLs, which would otherwise answer 404)."""
from django.urls import path

from monitoring import views

app_name = "monitoring"

urlpatterns = [
    path("", views.queues_index, name="queues"),
    path("jobs/<str:job_id>/", views.job_progress, name="job_progress"),
]
