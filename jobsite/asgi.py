"""ASGI entry point (HTTP now; WebSocket routing arrives with the live-progress work)."""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jobsite.settings")
application = get_asgi_application()
