"""What the sandbox remembers, by concern: who may call (accounts), what it counts and switches
(metering), a tenant's records in Keap (records), and REST hooks (hooks)."""

from webapp.sandbox.models.accounts import (
    KEAP_HOST_SUFFIX,
    AccessToken,
    ApiKey,
    AuthorizationCode,
    DeveloperApp,
    Grant,
    GrantQuerySet,
    KeapUser,
    Membership,
    Tenant,
)
from webapp.sandbox.models.hooks import (
    ContactPlayer,
    HookDelivery,
    HookEvent,
    HookFault,
    HookSubscription,
)
from webapp.sandbox.models.metering import (
    ClockOffset,
    Fault,
    LegacyBucket,
    QuotaDay,
    QuotaEvent,
    RequestCount,
    Setting,
    TrafficCount,
)
from webapp.sandbox.models.records import (
    Campaign,
    Company,
    Contact,
    Goal,
    GoalAchievement,
    Tag,
    TagCategory,
)

__all__ = [
    "KEAP_HOST_SUFFIX",
    "AccessToken",
    "ApiKey",
    "AuthorizationCode",
    "Campaign",
    "ClockOffset",
    "Company",
    "Contact",
    "ContactPlayer",
    "DeveloperApp",
    "Fault",
    "Goal",
    "GoalAchievement",
    "Grant",
    "GrantQuerySet",
    "HookDelivery",
    "HookEvent",
    "HookFault",
    "HookSubscription",
    "KeapUser",
    "LegacyBucket",
    "Membership",
    "QuotaDay",
    "QuotaEvent",
    "RequestCount",
    "Setting",
    "Tag",
    "TagCategory",
    "Tenant",
    "TrafficCount",
]
