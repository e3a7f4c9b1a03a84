from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        # WebSockets re-check their access when a user logs out or their permissions change.
        from monitoring.live.access import connect_signals

        connect_signals()
