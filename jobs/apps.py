from django.apps import AppConfig
from django.db.models.signals import post_migrate


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from jobs.core import checks, registry  # noqa: F401  (checks register on import)
        from jobs.core.permissions import create_enqueue_permissions
        from jobs.events import webhooks  # noqa: F401  (its settings check registers on import)
        from jobs.tasks.backend import start_task_backends

        registry.load_job_type_modules()
        start_task_backends()
        post_migrate.connect(create_enqueue_permissions, sender=self, dispatch_uid="jobs.enqueue_permissions")
