"""Keap's own paths (so only the host differs from real Keap) plus the simulator's `/sandbox/`."""

from django.urls import path, re_path
from django.views.generic import RedirectView

from webapp.sandbox import api_v1, api_v2, control, oauth

urlpatterns = [
    # accounts.infusionsoft.com
    path("app/oauth/authorize", oauth.authorize, name="authorize"),
    path("app/login", oauth.login, name="login"),
    path("app/logout", oauth.logout, name="logout"),
    # api.infusionsoft.com
    path("token", oauth.token, name="token"),
    path("crm/rest/v1/oauth/connect/userinfo", api_v1.userinfo, name="userinfo_v1"),
    path("crm/rest/v1/account/profile", api_v1.account_profile, name="account_profile_v1"),
    path("crm/rest/v2/oauth/connect/userinfo", api_v2.userinfo, name="userinfo_v2"),
    path("crm/rest/v2/businessProfile", api_v2.business_profile, name="business_profile_v2"),
    # Catch-alls last: the gateway has already authenticated these, so they answer 404.
    re_path(r"^crm/rest/v2(?:/.*)?$", api_v2.not_found, name="rest_v2_not_found"),
    re_path(r"^crm/(?:rest|xmlrpc)(?:/.*)?$", api_v1.not_found, name="rest_v1_not_found"),
    # The simulator's own pages and controls.
    path("", RedirectView.as_view(url="/sandbox/"), name="home"),
    path("sandbox/", control.dashboard, name="dashboard"),
    path("sandbox/api/stats", control.stats_view, name="control_stats"),
    path("sandbox/api/stats/reset", control.stats_reset, name="control_stats_reset"),
    path("sandbox/api/app", control.developer_app_view, name="control_app"),
    path(
        "sandbox/api/tenants/<str:app_name>/revoke",
        control.revoke_tenant,
        name="control_revoke_tenant",
    ),
]
