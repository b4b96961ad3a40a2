from django.apps import AppConfig


class LimiterConfig(AppConfig):
    name = "webapp.limiter"
    label = "limiter"
    verbose_name = "Keap quota limiter"
    default_auto_field = "django.db.models.BigAutoField"
