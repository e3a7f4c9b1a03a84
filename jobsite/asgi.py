"""ASGI entry point: HTTP goes to Django, WebSockets to the Channels consumers (monitoring.live.routing).

WebSockets get the session user (AuthMiddlewareStack) and are refused unless
their Origin is one of ALLOWED_HOSTS, so another site cannot open them with
a visitor's session cookie. HTTP request bodies larger than
DATA_UPLOAD_MAX_MEMORY_SIZE are refused with 413 before they are read (jobsite.body_limit).
"""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jobsite.settings")
os.environ["JOBS_PROCESS"] = "web"  # settings give web processes a statement timeout (WEB_STATEMENT_TIMEOUT)
django_application = get_asgi_application()  # sets Django up before the consumers are imported

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from jobsite.body_limit import BodySizeLimit  # noqa: E402
from monitoring.live.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter({
    "http": BodySizeLimit(django_application, settings.DATA_UPLOAD_MAX_MEMORY_SIZE),
    "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
})
