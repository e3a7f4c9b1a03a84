from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from jobs.core import checks, registry  # noqa: F401  (checks register on import)
        from jobs.events import webhooks  # noqa: F401  (its settings check registers on import)

        registry.load_job_type_modules()
