"""The dashboard's URLs, included by monitoring.urls under /admin/queues/."""
from django.urls import path

from monitoring.dashboard import actions, add_views, job_views, metrics_views, search_views, views

urlpatterns = [
    path("", views.overview, name="queues"),
    path("queue/<str:name>/", views.queue_page, name="queue"),
    path("queue/<str:name>/count/", views.queue_count, name="queue_count"),
    path("queue/<str:name>/pause/", actions.pause, name="queue_pause"),
    path("queue/<str:name>/resume/", actions.resume, name="queue_resume"),
    path("action/", actions.bulk_action, name="bulk_action"),
    path("dead-letters/", views.dead_letters, name="dead_letters"),
    path("workers/", views.workers, name="workers"),
    path("metrics/", metrics_views.metrics_page, name="metrics"),
    path("metrics/data/", metrics_views.metrics_data, name="metrics_data"),
    path("search/", search_views.search, name="search"),
    path("add/", add_views.add_choose, name="add_choose"),
    path("add/<str:type_name>/", add_views.add_job, name="add_job"),
    path("jobs/<str:job_id>/", job_views.job_page, name="job_progress"),
    path("jobs/<str:job_id>/timeline/", job_views.job_timeline, name="job_timeline"),
    path("jobs/<str:job_id>/retry/", actions.job_retry, name="job_retry"),
    path("jobs/<str:job_id>/cancel/", actions.job_cancel_view, name="job_cancel"),
]
