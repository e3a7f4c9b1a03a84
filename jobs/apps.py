from django.apps import AppConfig
from django.db.models.signals import post_migrate


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        import os
        import sys

        from jobs.core import checks, registry, tracing  # noqa: F401  (checks register on import)
        from jobs.core.permissions import create_enqueue_permissions
        from jobs.events import webhooks  # noqa: F401  (its settings check registers on import)
        from jobs.tasks.backend import start_task_backends

        registry.load_job_type_modules()
        # "jobqueue-web", "jobqueue-run_worker", …: OTEL_SERVICE_NAME overrides it.
        kind = os.environ.get("JOBS_PROCESS") or (sys.argv[1] if len(sys.argv) > 1 else "python")
        tracing.configure(service=f"jobqueue-{kind}")
        start_task_backends()
        post_migrate.connect(create_enqueue_permissions, sender=self, dispatch_uid="jobs.enqueue_permissions")
