"""Deterministic seed data: the developer app from configuration, tenants and Keap users."""

from django.conf import settings
from django.db import transaction

from webapp.sandbox.models import DeveloperApp, KeapUser, Membership, Tenant

# A simulator's demo password, shown on its own sign-in page; not a secret.
DEMO_PASSWORD = "sandbox"

TENANTS = [
    {
        "app_name": "ab123",
        "name": "Acme Bakery",
        "email": "hello@acmebakery.example",
        "phone": "503-555-0142",
        "website": "https://acmebakery.example",
        "time_zone": "America/Los_Angeles",
        "currency_code": "USD",
        "business_type": "Food & Beverage",
        "address_line1": "120 SW Oak St",
        "address_locality": "Portland",
        "address_region": "Oregon",
        "address_postal_code": "97204",
        "address_country_code": "USA",
    },
    {
        "app_name": "cd456",
        "name": "Cedar Dental",
        "email": "frontdesk@cedardental.example",
        "phone": "512-555-0199",
        "phone_ext": "12",
        "website": "https://cedardental.example",
        "time_zone": "America/Chicago",
        "currency_code": "USD",
        "business_type": "Health & Wellness",
        "address_line1": "4500 Cedar Park Blvd",
        "address_line2": "Suite 210",
        "address_locality": "Austin",
        "address_region": "Texas",
        "address_postal_code": "78731",
        "address_country_code": "USA",
    },
    {
        "app_name": "ef789",
        "name": "Elm Fitness",
        "email": "team@elmfitness.example",
        "phone": "416-555-0123",
        "website": "https://elmfitness.example",
        "time_zone": "America/Toronto",
        "currency_code": "CAD",
        "language_tag": "en-CA",
        "business_type": "Fitness",
        "address_line1": "88 Elm St",
        "address_locality": "Toronto",
        "address_region": "Ontario",
        "address_postal_code": "M5G 1H1",
        "address_country_code": "CAN",
    },
]

USERS = [
    {
        "email": "alex@sandbox.keap.test",
        "given_name": "Alex",
        "family_name": "Rivera",
        "preferred_name": "Alex",
        "global_user_id": 7100000000001,
        "tenants": ["ab123", "cd456"],
    },
    {
        "email": "sam@sandbox.keap.test",
        "given_name": "Samantha",
        "middle_name": "Jo",
        "family_name": "Okafor",
        "preferred_name": "Sam",
        "global_user_id": 7100000000002,
        "tenants": ["ef789"],
    },
]


def register_developer_app() -> DeveloperApp:
    """Create or update the one registered developer app from the SANDBOX_CLIENT_* settings."""
    developer_app = DeveloperApp.objects.order_by("pk").first() or DeveloperApp()
    developer_app.client_id = settings.SANDBOX_CLIENT_ID
    developer_app.set_client_secret(settings.SANDBOX_CLIENT_SECRET)
    developer_app.redirect_uris = list(settings.SANDBOX_REDIRECT_URIS)
    developer_app.save()
    return developer_app


@transaction.atomic
def seed() -> None:
    """Create or update the seeded tenants and users; running it twice changes nothing."""
    register_developer_app()
    tenants = {}
    for row in TENANTS:
        values = {key: value for key, value in row.items() if key != "app_name"}
        tenants[row["app_name"]], _ = Tenant.objects.update_or_create(
            app_name=row["app_name"], defaults=values
        )
    for row in USERS:
        values = {key: value for key, value in row.items() if key not in ("email", "tenants")}
        # Keap's infusionsoft_id / keap_id is the login, which is the email.
        values["infusionsoft_id"] = row["email"]
        user, _ = KeapUser.objects.update_or_create(email=row["email"], defaults=values)
        if not user.check_password(DEMO_PASSWORD):
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        for app_name in row["tenants"]:
            Membership.objects.get_or_create(keap_user=user, tenant=tenants[app_name])


def is_seeded() -> bool:
    return Tenant.objects.exists()
