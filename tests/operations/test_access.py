"""Every staff-only view (the admin, the operations pages) turns customers and visitors away."""

import re

import pytest
from django.contrib import admin
from django.urls import URLPattern, URLResolver, get_resolver, reverse

pytestmark = pytest.mark.django_db

# Values for the URL parameters the admin and operations patterns take.
_PARAMS = {"object_id": "1", "content_type_id": "1", "url": "no/such/page/", "pk": "1"}
_PUBLIC = {"admin:login"}  # the staff sign-in page itself


def _walk(resolvers, prefix: str = "", namespace: str = ""):
    for entry in resolvers:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}:{entry.namespace}" if entry.namespace else namespace
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry, namespace.strip(":")


def _staff_urls() -> list[str]:
    """A concrete URL for every pattern under admin/ and operations/."""
    app_label = next(iter(admin.site._registry))._meta.app_label
    urls = []
    for route, pattern, namespace in _walk(get_resolver().url_patterns):
        if not (route.startswith("admin/") or route.startswith("operations/")):
            continue
        name = f"{namespace}:{pattern.name}" if pattern.name else None
        if name in _PUBLIC:
            continue
        regex = pattern.pattern.regex
        kwargs = {k: _PARAMS.get(k, app_label) for k in regex.groupindex}
        if name:
            urls.append(reverse(name, kwargs=kwargs))
        else:  # the admin's catch-all
            urls.append("/admin/no/such/page/")
    return urls


def test_the_walk_covers_every_admin_model_and_every_operations_view():
    urls = _staff_urls()
    for model in admin.site._registry:
        meta = model._meta
        assert f"/admin/{meta.app_label}/{meta.model_name}/" in urls
    for name in ("index", "apps", "work", "usage_csv"):
        assert reverse(f"operations:{name}") in urls


def _turned_away(client, response, hops: int = 2) -> bool:
    """403, or a redirect that ends at a sign-in page (admin's logout goes via the admin index)."""
    if response.status_code == 403:
        return True
    if response.status_code in (301, 302) and hops:
        location = response["Location"]
        if re.search(r"/(accounts|admin)/login/", location):
            return True
        if location.startswith("/admin/"):
            return _turned_away(client, client.get(location), hops - 1)
    return False


@pytest.mark.parametrize("persona", ["anon_client", "owner_client"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_every_staff_view_turns_away_customers_and_visitors(request, persona, method):
    client = request.getfixturevalue(persona)
    for url in _staff_urls():
        response = getattr(client, method)(url)
        if method == "post" and response.status_code == 405:
            continue  # GET-only views refuse the method before anything else
        assert _turned_away(client, response), (
            f"{persona} {method.upper()} {url} -> {response.status_code}"
        )


def test_customers_get_403_from_the_operations_pages(owner_client):
    for name in ("index", "apps", "work", "usage_csv"):
        assert owner_client.get(reverse(f"operations:{name}")).status_code == 403


def test_staff_reach_the_operations_pages(staff_client):
    for name in ("index", "apps", "work", "usage_csv"):
        assert staff_client.get(reverse(f"operations:{name}")).status_code == 200
