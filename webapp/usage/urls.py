from django.urls import path

from webapp.usage import views

app_name = "usage"

urlpatterns = [path("connections/<int:pk>/panel", views.panel, name="panel")]
