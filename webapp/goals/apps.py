from django.apps import AppConfig


class GoalsConfig(AppConfig):
    name = "webapp.goals"
    label = "goals"
    verbose_name = "Campaign goals"
