"""Deterministic seed data: the developer app, tenants, Keap users, campaigns and contacts."""

import json
import random
import unicodedata
from datetime import UTC, datetime
from functools import cache
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from webapp.sandbox import clock, hooks
from webapp.sandbox.locking import write_lock
from webapp.sandbox.models import (
    Campaign,
    Company,
    Contact,
    DeveloperApp,
    Goal,
    KeapUser,
    Membership,
    Tag,
    TagCategory,
    Tenant,
)

# A simulator's demo password, shown on its own sign-in page; not a secret.
DEMO_PASSWORD = "sandbox"

TENANTS: list[dict[str, str]] = [
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

USERS: list[dict[str, Any]] = [
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
    """Create or update the seeded tenants, users and campaigns; running it twice changes nothing."""
    register_developer_app()
    tenants = {}
    for row in TENANTS:
        values = {key: value for key, value in row.items() if key != "app_name"}
        tenants[row["app_name"]], _ = Tenant.objects.update_or_create(
            app_name=row["app_name"], defaults=values
        )
    for person in USERS:
        fields = {key: value for key, value in person.items() if key not in ("email", "tenants")}
        # Keap's infusionsoft_id / keap_id is the login, which is the email.
        fields["infusionsoft_id"] = person["email"]
        user, _ = KeapUser.objects.update_or_create(email=person["email"], defaults=fields)
        if not user.check_password(DEMO_PASSWORD):
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        for app_name in person["tenants"]:
            Membership.objects.get_or_create(keap_user=user, tenant=tenants[app_name])
    ensure_records()


def is_seeded() -> bool:
    return Tenant.objects.exists()


# Each tenant's campaigns and API goals, in the order goals.py fires them. The integration name
# defaults to the app name, as in Keap. `purchased` fires two goals; the unpublished campaign's
# goal never fires.
CAMPAIGNS = [
    ("Welcome series", True, [("Purchased", "purchased"), ("Trial started", "trialstarted")]),
    ("Win-back", True, [("Purchased again", "purchased"), ("Cancelled", "cancelled")]),
    ("Old promotion (draft)", False, [("Purchased (draft)", "purchased")]),
]
# Tags 101-140 in five categories; seeded contacts carry up to four of them (`contact_row`).
TAG_CATEGORIES = {
    1: ("Lead source", ["Web form", "Referral", "Trade show", "Facebook ad", "Google ad",
                        "Podcast", "Walk-in", "Partner"]),
    2: ("Customer", ["Customer", "VIP", "Repeat buyer", "Wholesale", "Subscriber", "Lapsed",
                     "Refund requested", "Gift card buyer"]),
    3: ("Interests", ["Newsletter", "Events", "Workshops", "Product updates", "Promotions",
                      "Seasonal", "Community", "Blog"]),
    4: ("Lifecycle", ["Prospect", "Trial started", "Purchased", "Cancelled", "Win-back",
                      "Onboarding", "Churn risk", "Re-engaged"]),
    5: ("Admin", ["Do not email", "Bounced", "Unsubscribed", "Imported", "Needs review",
                  "Duplicate", "Test contact", "Staff"]),
}  # fmt: skip
FIRST_TAG_ID = 101
TAG_COUNT = sum(len(tags) for _, tags in TAG_CATEGORIES.values())


def ensure_records() -> None:
    """Give every tenant the seeded tags, companies, campaigns and goals (idempotent)."""
    for tenant in Tenant.objects.all():
        ensure_tenant_records(tenant)


def ensure_tenant_records(tenant: Tenant) -> None:
    """Give one tenant the seeded tags, companies, campaigns and goals; what exists stays."""
    for index, (name, published, goals) in enumerate(CAMPAIGNS):
        campaign, _ = Campaign.objects.get_or_create(
            tenant=tenant, name=name, defaults={"published": published}
        )
        if campaign.created_ms is None:
            campaign.created_ms = SPAN_START + index * 86_400_000 * 40
            campaign.save(update_fields=["created_ms"])
        for goal_name, call_name in goals:
            Goal.objects.get_or_create(
                campaign=campaign,
                call_name=call_name,
                defaults={"name": goal_name, "integration": tenant.app_name},
            )
    _ensure_tags(tenant)
    _ensure_companies(tenant)


def _ensure_tags(tenant: Tenant) -> None:
    categories = {row.keap_id: row for row in TagCategory.objects.filter(tenant=tenant)}
    for keap_id, (name, _) in TAG_CATEGORIES.items():
        if keap_id not in categories:
            categories[keap_id] = TagCategory.objects.create(
                tenant=tenant, keap_id=keap_id, name=name, description=f"{name} tags"
            )
    have = set(Tag.objects.filter(tenant=tenant).values_list("keap_id", flat=True))
    names = [(cat, name) for cat, (_, tags) in TAG_CATEGORIES.items() for name in tags]
    Tag.objects.bulk_create(
        Tag(tenant=tenant, keap_id=keap_id, name=name, category=categories[cat])
        for keap_id, (cat, name) in enumerate(names, start=FIRST_TAG_ID)
        if keap_id not in have
    )


def _ensure_companies(tenant: Tenant) -> None:
    # Ids 1..15 are the companies seeded contacts name (`contact_row`).
    have = set(Company.objects.filter(tenant=tenant).values_list("keap_id", flat=True))
    rows = []
    for keap_id, name in enumerate(COMPANIES, start=1):
        if keap_id in have:
            continue
        slug = _ascii(name)
        city, _, region, postal = CITIES[keap_id % len(CITIES)]
        rows.append(
            Company(
                tenant=tenant, keap_id=keap_id, name=name, email=f"info@{slug}.example",
                phone=f"503-555-{keap_id:04d}", website=f"https://{slug}.example",
                address_line1=f"{100 + keap_id} Market St", address_locality=city,
                address_region=region, address_zip_code=postal, address_country_code="USA",
                created_ms=SPAN_START + keap_id * 86_400_000,
            )
        )  # fmt: skip
    Company.objects.bulk_create(rows)


GIVEN = [
    "James", "Mary", "José", "Zoë", "Łukasz", "Søren", "Aoife", "Mei", "Ömer", "François",
    "Anaïs", "Dmitri", "Siobhán", "Chloé", "Björn", "Renée", "Hiroshi", "Priya", "Kwame",
    "Fatima", "Ana", "Seo-yeon", "Mohammed", "Olivia", "Liam", "Noah", "Emma", "Ava", "伟",
    "Ngọc", "Jürgen", "Agnieszka", "Thandiwe", "Rafael", "Ines",
]  # fmt: skip
FAMILY = [
    "Smith", "García", "Müller", "O'Brien", "Nguyễn", "Kowalski", "Ødegaard", "Dubois", "Rossi",
    "Tanaka", "Okafor", "Patel", "Johansson", "Ivanov", "Fernández", "Kim", "Chen", "Schäfer",
    "Jones", "Brown", "Wilson", "Núñez", "Łęcki", "van der Berg", "MacDonald", "李", "Dlamini",
    "Al-Sayed", "Papadopoulos", "Novák",
]  # fmt: skip
MIDDLE = ["A.", "Marie", "J.", "Lee", "Ann", "K."]
COMPANIES = [
    "Northwind Traders", "Contoso Ltd", "Fabrikam", "Müller & Söhne GmbH", "Café Olé",
    "Tailspin Toys", "Wide World Importers", "Adventure Works", "Blue Yonder Airlines",
    "Coho Winery", "Lucerne Publishing", "Margie's Travel", "Proseware", "Trey Research",
    "Woodgrove Bank",
]  # fmt: skip
DOMAINS = ["example.com", "mail.example", "example.org", "inbox.test", "example.net"]
STATUSES = (["NonMarketable"] * 3 + ["SingleOptIn"] * 4 + ["DoubleOptin", "Confirmed"] * 2
            + ["UnengagedMarketable", "HardBounce", "ListUnsubscribe", "Spam"])  # fmt: skip
SOURCES = ["API", "WEBFORM", "IMPORT", "MANUAL", "LANDINGPAGE", "APPOINTMENT"]
CITIES = [("Portland", "US-OR", "Oregon", "97204"), ("Austin", "US-TX", "Texas", "78701"),
          ("Denver", "US-CO", "Colorado", "80202"), ("Boston", "US-MA", "Massachusetts", "02108")]  # fmt: skip
# Fixed span, so a seed is the same whenever it runs: created from 2022, updated up to mid-2026.
SPAN_START = int(datetime(2022, 1, 1, tzinfo=UTC).timestamp() * 1000)
SPAN_END = int(datetime(2026, 6, 30, tzinfo=UTC).timestamp() * 1000)


@cache
def _ascii(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum()) or "contact"


def contact_row(
    tenant_id: int, keap_id: int, rng: random.Random, *, stamp: int | None = None
) -> tuple[Any, ...]:
    """One contact as an INSERT row; `stamp` (epoch ms) makes it created and updated then."""
    given, family = rng.choice(GIVEN), rng.choice(FAMILY)
    middle = rng.choice(MIDDLE) if rng.random() < 0.15 else ""
    emails = []
    for slot in range(rng.choices([0, 1, 2, 3], weights=[8, 62, 20, 10])[0]):
        local = f"{_ascii(given)}.{_ascii(family)}{keap_id}" + (f".{slot}" if slot else "")
        emails.append(
            {"email": f"{local}@{rng.choice(DOMAINS)}", "field": f"EMAIL{slot + 1}",
             "status": rng.choice(STATUSES)}
        )  # fmt: skip
    phones = [
        {"number": f"{rng.randint(201, 989)}-555-{rng.randint(0, 9999):04d}",
         "field": f"PHONE{slot + 1}", "type": rng.choice(["Mobile", "Work", "Home"])}
        for slot in range(rng.choices([0, 1, 2], weights=[40, 50, 10])[0])
    ]  # fmt: skip
    data: dict[str, Any] = {
        "emails": emails,
        "phones": phones,
        "tag_ids": sorted(
            rng.sample(range(FIRST_TAG_ID, FIRST_TAG_ID + TAG_COUNT), rng.randint(0, 4))
        ),
        "source_type": rng.choice(SOURCES),
    }
    if rng.random() < 0.4:
        company_id = rng.randint(1, len(COMPANIES))
        data["company"] = {"id": company_id, "name": COMPANIES[company_id - 1]}
    if rng.random() < 0.7:
        data["score"] = str(rng.randint(0, 100))
    if rng.random() < 0.5:
        city, region_code, region, postal = rng.choice(CITIES)
        data["addresses"] = [
            {"field": "BILLING", "line1": f"{rng.randint(1, 9999)} Main St", "locality": city,
             "region": region, "region_code": region_code, "country_code": "USA",
             "zip_code": postal}
        ]  # fmt: skip
    if rng.random() < 0.2:
        data["birthday"] = (
            f"{rng.randint(1950, 2004)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        )
    if rng.random() < 0.2:
        data["job_title"] = rng.choice(["Owner", "Manager", "Designer", "Engineer", "Buyer"])
    created = rng.randint(SPAN_START, SPAN_END - 1)
    updated = created + int((SPAN_END - created) * rng.random() ** 2)
    if stamp is not None:
        created = updated = stamp
    email_key = f"|{'|'.join(e['email'].lower() for e in emails)}|" if emails else ""
    return (
        tenant_id, keap_id, given, middle, family, email_key,
        emails[0]["email"].lower() if emails else "",
        data.get("company", {}).get("id"), created, updated,
        json.dumps(data, ensure_ascii=False, separators=(",", ":")),
    )  # fmt: skip


INSERT_CONTACT = (
    "INSERT INTO sandbox_contact (tenant_id, keap_id, given_name, middle_name, family_name, "
    "email_key, email1, company_id, created_ms, updated_ms, data) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


def seed_contacts(tenant: Tenant, count: int) -> int:
    """Replace a tenant's contacts with `count` deterministic ones (ids 1..count); bulk insert.

    For REST hooks the replacement reads as Keap would report it: ids that stay were edited,
    ids that go were deleted, new ids were added.
    """
    rng = random.Random(f"contacts:{tenant.app_name}")  # noqa: S311 (test data, not secrets)
    with write_lock(), transaction.atomic(), connection.cursor() as cursor:
        rows = Contact.objects.filter(tenant=tenant)
        watched = hooks.wants(
            tenant.pk, hooks.CONTACT_ADD, hooks.CONTACT_EDIT, hooks.CONTACT_DELETE
        )
        old_ids = set(rows.values_list("keap_id", flat=True)) if watched else set()
        rows.delete()
        # Seeded ids are 1..count: ids that stay read as edited, as the docstring says. The
        # counter never goes back, so the next contact made gets an id no contact ever had.
        tenant.note_contact_ids(count)
        batch = []
        for keap_id in range(1, count + 1):
            batch.append(contact_row(tenant.pk, keap_id, rng))
            if len(batch) == 5000 or keap_id == count:
                cursor.executemany(INSERT_CONTACT, batch)
                batch = []
        if watched:
            stamp = int(clock.epoch() * 1000)
            new_ids = set(range(1, count + 1))
            hooks.queue_changes(tenant.pk, hooks.CONTACT_DELETE, sorted(old_ids - new_ids), stamp)
            hooks.queue_changes(tenant.pk, hooks.CONTACT_EDIT, sorted(old_ids & new_ids), stamp)
            hooks.queue_changes(tenant.pk, hooks.CONTACT_ADD, sorted(new_ids - old_ids), stamp)
    return count


def seed_missing_contacts(count: int) -> None:
    """Give tenants that have no contacts yet `count` seeded ones (first start)."""
    for tenant in Tenant.objects.all():
        if not Contact.objects.filter(tenant=tenant).exists():
            seed_contacts(tenant, count)
