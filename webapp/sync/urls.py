from django.urls import path

from webapp.sync import views

app_name = "sync"

urlpatterns = [
    path("connections/<int:pk>/run", views.sync_now, name="run"),
    path("connections/<int:pk>/runs/<int:run_pk>/cancel", views.cancel, name="cancel"),
    path("connections/<int:pk>/progress", views.progress, name="progress"),
    path("connections/<int:pk>/contacts", views.contacts, name="contacts"),
]
