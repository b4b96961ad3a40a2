from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = "webapp.usage"
    label = "usage"
    verbose_name = "Keap API usage"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Celery's prefork children leave through os._exit, so atexit never runs in them: flush the
        # in-process buffer when the child shuts down instead, or its last second of records is lost.
        from celery.signals import worker_process_shutdown

        from webapp.usage import recorder

        worker_process_shutdown.connect(recorder.on_process_shutdown, weak=False)
