from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path

# Staff sign in through allauth too, so its rate limits and (later) MFA cover the admin.
admin.autodiscover()
# Replacing a bound method of the one site object is the point here.
admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]
admin.site.site_header = "Onramp administration"

urlpatterns = [
    path("", include("webapp.pages.urls")),
    path("", include("webapp.observability.urls")),
    path("accounts/", include("allauth.urls")),
    path("connections/", include("webapp.connections.urls")),
    path("sync/", include("webapp.sync.urls")),
    path("hooks/", include("webapp.hooks.urls")),
    path("goals/", include("webapp.goals.urls")),
    path("capabilities/", include("webapp.capabilities.urls")),
    path("usage/", include("webapp.usage.urls")),
    path("operations/", include("webapp.operations.urls")),
    path("admin/", admin.site.urls),
]
