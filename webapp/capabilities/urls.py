from django.urls import path

from webapp.capabilities import views

app_name = "capabilities"

urlpatterns = [
    path("", views.index, name="index"),
    path("api/notes", views.api_notes, name="api_notes"),
    path("<slug:slug>/", views.detail, name="detail"),
]
