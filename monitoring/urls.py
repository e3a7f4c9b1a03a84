"""Mounted at /admin/queues/ (before the admin's own URLs, which would otherwise answer 404): the queue dashboard.

The job page (``jobs/<id>/``, name ``job_progress``) is the live progress view
(templates/admin/queues/job_progress.html) extended by the dashboard.
"""
from monitoring.dashboard.urls import urlpatterns

app_name = "monitoring"

__all__ = ["app_name", "urlpatterns"]
