from django.urls import path

from webapp.hooks import views

app_name = "hooks"

urlpatterns = [
    path("keap/<int:connection_id>/<str:secret>", views.intake, name="intake"),
]
