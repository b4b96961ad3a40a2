from django.urls import path

from webapp.goals import api, views

app_name = "goals"

urlpatterns = [
    path("connections/<int:pk>/", views.connection_goals, name="panel"),
    path("connections/<int:pk>/completions", views.completions, name="completions"),
    path("connections/<int:pk>/request", views.request_goal, name="request"),
    path(
        "connections/<int:pk>/completions/<int:completion_id>/send-again",
        views.send_again,
        name="send_again",
    ),
    path("api-keys", views.api_keys, name="api_keys"),
    path("api-keys/<int:key_id>/revoke", views.revoke_api_key, name="revoke_api_key"),
    path("api/connections/<int:pk>/goals", api.request_goal, name="api_request_goal"),
    path("api/completions/<int:completion_id>", api.completion, name="api_completion"),
]
