from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "webapp.sandbox"
    label = "sandbox"
    verbose_name = "Keap sandbox"
    default_auto_field = "django.db.models.BigAutoField"
