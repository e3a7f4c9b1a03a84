"""WebSocket routes (mounted by jobsite.asgi)."""
from django.urls import path

from monitoring.live.consumers import JobConsumer, QueuesConsumer

websocket_urlpatterns = [
    path("ws/jobs/<str:job_id>/", JobConsumer.as_asgi()),
    path("ws/queues/", QueuesConsumer.as_asgi()),
]
