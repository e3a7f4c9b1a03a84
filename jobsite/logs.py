"""Log records carry what they are about (jobs/core/log_context.py); LOG_FORMAT=json prints them as JSON.

The JSON lines come from python-json-logger (settings.LOGGING): one object per
line with ``timestamp, level, logger, event`` and whichever of
``correlation_id, queue, job_id, type, attempt, duration, error, worker`` the
line is about. Our own lines start ``event=<name>``; the filter lifts that name
into ``event`` when the caller did not pass it.
"""
from __future__ import annotations

import logging

from jobs.core.log_context import current


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in current().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        if not hasattr(record, "event"):
            message = record.msg if isinstance(record.msg, str) else ""
            if message.startswith("event="):
                name = message[6:].split(" ", 1)[0]
                if name == "%s" and isinstance(record.args, tuple) and record.args:  # "event=%s …" % (name, …)
                    name = str(record.args[0])
                record.event = name
        return True
