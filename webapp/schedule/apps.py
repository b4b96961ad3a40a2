from django.apps import AppConfig


class ScheduleConfig(AppConfig):
    name = "webapp.schedule"
    label = "schedule"
    verbose_name = "Planning Keap's daily budget"
