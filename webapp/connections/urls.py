from django.urls import path

from webapp.connections import views

app_name = "connections"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("keap/start", views.connect_start, name="start"),
    path("keap/callback", views.connect_callback, name="callback"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/disconnect", views.disconnect, name="disconnect"),
]
