"""The permission names every interface checks (API, dashboard, WebSocket, CLI).

Seeing jobs needs ``view_queuejob``; each action needs its own permission.
Who holds what, and what else is required (staff status, a token's scopes),
is decided in one place: jobs/core/access.py.
"""
from __future__ import annotations

VIEW = "jobs.view_queuejob"
ADD = "jobs.add_queuejob"
CHANGE = "jobs.change_queuejob"
DELETE = "jobs.delete_queuejob"
RETRY = "jobs.retry_queuejob"
CANCEL = "jobs.cancel_queuejob"
PAUSE = "jobs.pause_queue"

#: Short names of the action permissions (templates: ``can.retry`` …).
ACTION_PERMISSIONS = {"add": ADD, "change": CHANGE, "delete": DELETE, "retry": RETRY, "cancel": CANCEL,
                      "pause": PAUSE}
