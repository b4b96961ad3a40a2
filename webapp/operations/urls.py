from django.urls import path

from webapp.operations import views

app_name = "operations"

urlpatterns = [
    path("", views.index, name="index"),
    path("apps", views.apps_panel, name="apps"),
    path("work", views.work_panel, name="work"),
    path("usage.csv", views.usage_csv, name="usage_csv"),
]
