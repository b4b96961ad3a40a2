"""CSV export of usage by Keap app and day: its content, and what bad input gets."""

import csv
import io
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from tests.operations.conftest import calls, record

pytestmark = pytest.mark.django_db


def _rows(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.content.decode())))


@pytest.fixture
def march(dev_app):
    app = dev_app.client_id
    day = lambda d: datetime(2026, 3, d, 12, 0, tzinfo=UTC)  # noqa: E731
    record(
        calls(3, app=app, tenant="ab123", at=day(9)),
        calls(4, app=app, tenant="ab123", at=day(10), operation="goals.achieve.v1"),
        calls(2, app=app, tenant="ab123", at=day(10), status=429, throttled=True),
        calls(1, app=app, tenant="ab123", at=day(10), status=503, retries=2),
        calls(6, app=app, tenant="cd456", at=day(10)),
        calls(9, app=app, tenant="cd456", at=day(11)),
        calls(5, app="other-client", tenant="=HYPERLINK()", at=day(10)),
    )
    return app


def test_csv_sums_each_tenant_per_day_within_the_range(staff_client, march):
    response = staff_client.get(
        reverse("operations:usage_csv"), {"start": "2026-03-10", "end": "2026-03-10"}
    )

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="usage-2026-03-10-2026-03-10.csv"' in response["Content-Disposition"]
    rows = _rows(response)
    got = {(r["day"], r["developer_app"], r["tenant"]): r for r in rows}
    assert set(got) == {
        ("2026-03-10", march, "ab123"),
        ("2026-03-10", march, "cd456"),
        ("2026-03-10", "other-client", "'=HYPERLINK()"),  # no formula reaches a spreadsheet
    }
    ab = got[("2026-03-10", march, "ab123")]
    assert (ab["calls"], ab["throttled"], ab["responses_429"], ab["errors"], ab["retries"]) == (
        "7", "2", "2", "1", "2",
    )  # fmt: skip
    assert got[("2026-03-10", march, "cd456")]["calls"] == "6"


def test_csv_filters_by_developer_app_and_spans_days(staff_client, march):
    response = staff_client.get(
        reverse("operations:usage_csv"), {"start": "2026-03-01", "end": "2026-03-31", "app": march}
    )
    rows = [(r["day"], r["tenant"], r["calls"]) for r in _rows(response)]
    assert rows == [
        ("2026-03-09", "ab123", "3"),
        ("2026-03-10", "ab123", "7"),
        ("2026-03-10", "cd456", "6"),
        ("2026-03-11", "cd456", "9"),
    ]


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"start": "2026-03-11", "end": "2026-03-10"}, "must not be after the end date"),
        ({"start": "10/03/2026"}, "start: Enter a valid date"),
        ({"end": "2026-02-30"}, "end: Enter a valid date"),
        ({"start": "2024-01-01", "end": "2026-01-01"}, "at most 366 days"),
        ({"app": "x" * 300}, "app: Ensure this value has at most 255 characters"),
    ],
)
def test_csv_rejects_bad_ranges_with_a_clear_400(staff_client, dev_app, params, reason):
    response = staff_client.get(reverse("operations:usage_csv"), params)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    assert reason in response.content.decode()


def test_csv_without_dates_covers_the_last_30_days(staff_client, dev_app, earlier_today):
    record(calls(2, app=dev_app.client_id, tenant="ab123", at=earlier_today))
    rows = _rows(staff_client.get(reverse("operations:usage_csv")))
    assert [(r["day"], r["calls"]) for r in rows] == [(earlier_today.date().isoformat(), "2")]
