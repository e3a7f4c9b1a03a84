"""System checks: a bad queue table or job type fails `manage.py check`, not a job at 3 am."""
from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured

from jobs.core.config import PRIORITY_RANGE, get_config
from jobs.core.registry import ACCESS_LEVELS, all_job_types


@register()
def check_job_engine(app_configs: object = None, **kwargs: object) -> list[Error]:
    try:
        config = get_config()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="jobs.E001")]
    errors = []
    for jt in all_job_types():
        if jt.queue not in config.queues:
            errors.append(Error(f"job type {jt.name} uses unknown queue {jt.queue!r}", id="jobs.E002"))
        if jt.priority is not None and jt.priority not in PRIORITY_RANGE:
            errors.append(Error(f"job type {jt.name} has priority {jt.priority}, outside 0-9", id="jobs.E003"))
    known = {jt.name for jt in all_job_types()}
    for name, access in settings.JOB_TYPE_ACCESS.items():
        if name not in known or access not in ACCESS_LEVELS:
            errors.append(Error(f"JOB_TYPE_ACCESS: {name}={access} is not <registered type>=<"
                                f"{'|'.join(ACCESS_LEVELS)}>", id="jobs.E004"))
    return errors
