from django.apps import AppConfig


class KeapConfig(AppConfig):
    name = "webapp.keap"
    label = "keap"
    verbose_name = "Keap developer apps"
