"""Keap's own paths (so only the host differs from real Keap) plus the simulator's `/sandbox/`."""

from django.urls import path, re_path
from django.views.generic import RedirectView

from webapp.sandbox import (
    api_v1,
    api_v2,
    campaigns_api,
    companies_api,
    control,
    hook_controls,
    hooks_api,
    oauth,
    tags_api,
    xmlrpc_api,
)

urlpatterns = [
    # accounts.infusionsoft.com
    path("app/oauth/authorize", oauth.authorize, name="authorize"),
    path("app/login", oauth.login, name="login"),
    path("app/logout", oauth.logout, name="logout"),
    # api.infusionsoft.com
    path("token", oauth.token, name="token"),
    path("crm/rest/v1/oauth/connect/userinfo", api_v1.userinfo, name="userinfo_v1"),
    path("crm/rest/v1/account/profile", api_v1.account_profile, name="account_profile_v1"),
    path("crm/rest/v1/contacts", api_v1.contact_collection, name="contacts_v1"),
    # Before {id}: "model" is not a contact id.
    path("crm/rest/v1/contacts/model", api_v1.contact_model, name="contact_model_v1"),
    path("crm/rest/v1/contacts/<str:contact_id>", api_v1.contact_item, name="contact_v1"),
    path(
        "crm/rest/v1/contacts/<str:contact_id>/tags",
        tags_api.contact_tags,
        name="contact_tags_v1",
    ),
    path(
        "crm/rest/v1/contacts/<str:contact_id>/tags/<str:tag_id>",
        tags_api.contact_tag,
        name="contact_tag_v1",
    ),
    path("crm/rest/v1/tags", tags_api.tag_collection, name="tags_v1"),
    path("crm/rest/v1/tags/<str:tag_id>", tags_api.tag_item, name="tag_v1"),
    path("crm/rest/v1/companies", companies_api.company_collection, name="companies_v1"),
    path("crm/rest/v1/companies/model", companies_api.company_model, name="company_model_v1"),
    path("crm/rest/v1/companies/<str:company_id>", companies_api.company_item, name="company_v1"),
    path(
        "crm/rest/v1/campaigns/goals/<str:integration>/<str:call_name>",
        api_v1.achieve_goal,
        name="achieve_goal_v1",
    ),
    path("crm/rest/v1/hooks", hooks_api.hook_collection, name="hooks_v1"),
    # Before {key}: "event_keys" is not a subscription key.
    path("crm/rest/v1/hooks/event_keys", hooks_api.event_keys, name="hook_event_keys_v1"),
    path("crm/rest/v1/hooks/<str:key>", hooks_api.hook_item, name="hook_v1"),
    path("crm/rest/v1/hooks/<str:key>/verify", hooks_api.verify, name="hook_verify_v1"),
    path(
        "crm/rest/v1/hooks/<str:key>/delayedVerify",
        hooks_api.delayed_verify,
        name="hook_delayed_verify_v1",
    ),
    path("crm/rest/v2/oauth/connect/userinfo", api_v2.userinfo, name="userinfo_v2"),
    path("crm/rest/v2/businessProfile", api_v2.business_profile, name="business_profile_v2"),
    path("crm/rest/v2/contacts", api_v2.contact_collection, name="contacts_v2"),
    path("crm/rest/v2/contacts/model", api_v2.contact_model, name="contact_model_v2"),
    path("crm/rest/v2/contacts/<str:contact_id>", api_v2.contact_item, name="contact_v2"),
    path("crm/rest/v2/automations/goals/achieve", api_v2.achieve_goal, name="achieve_goal_v2"),
    path("crm/rest/v2/campaigns", campaigns_api.campaign_collection, name="campaigns_v2"),
    path(
        "crm/rest/v2/campaigns/<str:campaign_id>",
        campaigns_api.campaign_item,
        name="campaign_v2",
    ),
    path(
        "crm/rest/v2/campaigns/<str:campaign_id>/goals",
        campaigns_api.campaign_goals,
        name="campaign_goals_v2",
    ),
    # Keap documents /crm/xmlrpc/v1; /crm/xmlrpc (no version) is used too (docs/keap/API.md §3.3).
    re_path(r"^crm/xmlrpc(?:/v1)?$", xmlrpc_api.endpoint, name="xmlrpc"),
    # Catch-alls last: the gateway has already authenticated these, so they answer 404.
    re_path(r"^crm/rest/v2(?:/.*)?$", api_v2.not_found, name="rest_v2_not_found"),
    re_path(r"^crm/(?:rest|xmlrpc)(?:/.*)?$", api_v1.not_found, name="rest_v1_not_found"),
    # The simulator's own pages and controls.
    path("", RedirectView.as_view(url="/sandbox/"), name="home"),
    path("sandbox/", control.dashboard, name="dashboard"),
    path("sandbox/api/stats", control.stats_view, name="control_stats"),
    path("sandbox/api/stats/reset", control.stats_reset, name="control_stats_reset"),
    path("sandbox/api/app", control.developer_app_view, name="control_app"),
    path("sandbox/api/settings", control.settings_view, name="control_settings"),
    path("sandbox/api/clock", control.clock_view, name="control_clock"),
    path("sandbox/api/faults", control.faults_view, name="control_faults"),
    path("sandbox/api/quota/reset", control.quota_reset, name="control_quota_reset"),
    path("sandbox/api/goals/achievements", control.achievements, name="control_achievements"),
    path("sandbox/api/oauth/exchanges", control.code_exchanges, name="control_code_exchanges"),
    path("sandbox/api/tenants", control.create_tenant, name="control_create_tenant"),
    path(
        "sandbox/api/tenants/<str:app_name>/revoke",
        control.revoke_tenant,
        name="control_revoke_tenant",
    ),
    path(
        "sandbox/api/tenants/<str:app_name>/api-keys",
        control.api_keys,
        name="control_api_keys",
    ),
    path(
        "sandbox/api/tenants/<str:app_name>/contacts/seed",
        control.seed_contacts,
        name="control_seed_contacts",
    ),
    path(
        "sandbox/api/tenants/<str:app_name>/contacts/touch",
        control.touch_contacts,
        name="control_touch_contacts",
    ),
    path(
        "sandbox/api/tenants/<str:app_name>/contacts/delete",
        hook_controls.delete_contacts,
        name="control_delete_contacts",
    ),
    path(
        "sandbox/api/tenants/<str:app_name>/contacts/play",
        hook_controls.play_contacts,
        name="control_play_contacts",
    ),
    path(
        "sandbox/api/tenants/<str:app_name>/hooks",
        hook_controls.tenant_hooks,
        name="control_tenant_hooks",
    ),
    path("sandbox/api/hooks", hook_controls.all_hooks, name="control_hooks"),
    path("sandbox/api/hooks/deliveries", hook_controls.deliveries, name="control_deliveries"),
    path("sandbox/api/hooks/faults", hook_controls.hook_faults, name="control_hook_faults"),
]
