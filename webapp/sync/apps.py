from django.apps import AppConfig


class SyncConfig(AppConfig):
    name = "webapp.sync"
    label = "sync"
    verbose_name = "Contact sync"
