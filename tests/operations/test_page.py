"""The operations page shows, per developer app, what was recorded: compared with what we seeded."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import ConnectionFactory
from tests.operations.conftest import calls, record
from webapp.connections.models import KeapConnection
from webapp.goals.models import GoalCompletion
from webapp.operations.reports import project_day
from webapp.sync.models import SyncRun

pytestmark = pytest.mark.django_db


def _number(page: str, key: str) -> int:
    match = re.search(rf'data-ops="{key}">([\d,]+)', page)
    assert match, f"{key} not on the page"
    return int(match.group(1).replace(",", ""))


def _tenant_rows(page: str) -> list[tuple[str, int]]:
    rows = re.findall(r'<tr data-tenant="([^"]+)"><td>[^<]*</td><td data-calls>([\d,]+)<', page)
    return [(tenant, int(n.replace(",", ""))) for tenant, n in rows]


def test_ops_page_shows_todays_calls_limits_and_top_tenants(staff_client, dev_app, earlier_today):
    app = dev_app.client_id
    record(
        calls(30, app=app, tenant="ab123", at=earlier_today),
        calls(5, app=app, tenant="ab123", at=earlier_today, status=429, throttled=True),
        calls(2, app=app, tenant="ab123", at=earlier_today, status=500),
        calls(12, app=app, tenant="cd456", at=earlier_today, lane="interactive"),
        # Yesterday and another developer app: never in this app's "today".
        calls(100, app=app, tenant="ef789", at=earlier_today - timedelta(days=1)),
        calls(40, app="another-client", tenant="ab123", at=earlier_today),
    )

    page = staff_client.get(reverse("operations:index")).content.decode()

    section = page.split(f'data-app="{app}"', 1)[1]
    assert _number(section, "today-calls") == 49
    assert _number(section, "last-hour") == 49
    assert _tenant_rows(section) == [("ab123", 37), ("cd456", 12)]
    assert re.search(r'data-ops="today-events">5 / 5 / 2<', section)
    day_row = re.search(r'<tr data-limit="day">.*?</tr>', section, re.S).group(0)
    assert "<td data-calls>49</td>" in day_row and "150,000" in day_row
    assert "at the last hour&#x27;s rate" in section  # the page says which rate it projected with
    assert page.count("<svg") >= 2  # event charts, server-rendered


def test_projection_uses_the_last_hours_rate_and_shows_the_days_average():
    six_am = timezone.now().replace(hour=6, minute=0, second=0, microsecond=0)
    p = project_day(calls_so_far=1_000, last_hour_calls=100, now=six_am, limit=150_000)
    assert p.by_last_hour == 1_000 + 100 * 18  # 18 hours left at 100 an hour
    assert p.by_day_rate == 4_000  # a quarter of the day gave 1,000
    assert p.chosen == p.by_last_hour
    just_after_midnight = six_am.replace(hour=0, minute=2)
    assert (
        project_day(
            calls_so_far=10, last_hour_calls=10, now=just_after_midnight, limit=None
        ).by_day_rate
        is None
    )


def test_ops_page_lists_reconnects_failed_jobs_and_last_quota(staff_client, dev_app, earlier_today):
    broken = ConnectionFactory(app_name="br0ke", status=KeapConnection.Status.NEEDS_RECONNECT)
    fine = ConnectionFactory(app_name="f1ne")
    SyncRun.objects.create(
        connection=fine, kind="incremental", status="failed", error="Keap said no (sync)",
        finished_at=timezone.now(),
    )  # fmt: skip
    GoalCompletion.objects.create(
        connection=fine, contact_id=5, integration="f1ne", call_name="purchased",
        idempotency_key="k1", status="failed", error="Unknown goal (goal)",
        finished_at=timezone.now(),
    )  # fmt: skip
    record(
        calls(
            1, app=dev_app.client_id, tenant="f1ne", at=earlier_today,
            quota={"app_day": {"limit": 150000, "used": 4321, "available": 145679}},
        )
    )  # fmt: skip

    page = staff_client.get(reverse("operations:index")).content.decode()

    reconnect = re.search(r'data-ops="needs-reconnect">.*?</table>', page, re.S).group(0)
    assert "br0ke" in reconnect and "f1ne" not in reconnect and broken.owner.email in reconnect
    assert "Keap said no (sync)" in page and "Unknown goal (goal)" in page
    quota = re.search(r'data-ops="quota">.*?</table>', page, re.S).group(0)
    assert "app_day" in quota and "4321" in quota and "145679" in quota


@pytest.mark.parametrize("name", ["operations:apps", "operations:work"])
def test_live_partials_are_fragments_that_poll_every_10_seconds(staff_client, dev_app, name):
    response = staff_client.get(reverse(name), HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert 'hx-trigger="every 10s"' in body and f'hx-get="{reverse(name)}"' in body


def test_ops_page_has_no_inline_script_or_event_handler(staff_client, dev_app):
    page = staff_client.get(reverse("operations:index")).content.decode()
    scripts = re.findall(r"<script\b[^>]*>", page)
    assert scripts and all("src=" in tag for tag in scripts)
    assert not re.search(r"\son[a-z]+\s*=", page)
    assert "style=" not in page


def test_staff_nav_links_to_operations(staff_client, owner_client, dev_app):
    url = reverse("operations:index")
    assert f'href="{url}"' in staff_client.get(reverse("connections:dashboard")).content.decode()
    assert (
        f'href="{url}"' not in owner_client.get(reverse("connections:dashboard")).content.decode()
    )


def test_ops_page_shows_the_busiest_second_and_the_minute_against_their_limits(
    staff_client, dev_app, now
):
    record(calls(10, app=dev_app.client_id, tenant="ab123", at=now - timedelta(seconds=20)))

    page = staff_client.get(reverse("operations:index")).content.decode()

    second = re.search(r'<tr data-limit="second">.*?</tr>', page, re.S).group(0)
    assert "<td data-calls>10</td>" in second and "<td>25</td>" in second
    assert "busiest second in the last minute" in second
    minute = re.search(r'<tr data-limit="minute">.*?</tr>', page, re.S).group(0)
    assert "<td data-calls>10</td>" in minute and "1,500" in minute
