"""REST v1 companies, validated against Keap's v1 document: the ones contacts name by id."""

from tests.sandbox.openapi import V1, validate

COMPANIES = "/crm/rest/v1/companies"


def test_list_companies_with_a_total_and_links(api):
    response = api("GET", COMPANIES)
    assert response.status_code == 200
    body = response.json()
    validate(V1, COMPANIES, "get", 200, body)
    assert body["count"] == len(body["companies"]) == 15
    first = body["companies"][0]
    assert first["id"] == 1 and first["company_name"] == "Northwind Traders"
    assert first["email_address"] == "info@northwindtraders.example"
    assert first["phone_number"] == {"number": "503-555-0001", "type": "Work"}
    assert first["address"]["country_code"] == "USA"
    page = api("GET", COMPANIES, params={"limit": 4, "offset": 4}).json()
    assert [company["id"] for company in page["companies"]] == [5, 6, 7, 8]
    assert page["next"].startswith(api.base) and "offset=8" in page["next"]


def test_order_and_name_filter(api):
    by_name = api("GET", COMPANIES, params={"order": "name"}).json()["companies"]
    names = [company["company_name"] for company in by_name]
    assert names == sorted(names)
    newest = api(
        "GET", COMPANIES, params={"order": "date_created", "order_direction": "DESCENDING"}
    ).json()["companies"]
    assert newest[0]["id"] == 15
    found = api("GET", COMPANIES, params={"company_name": "café olé"}).json()
    assert [company["id"] for company in found["companies"]] == [5] and found["count"] == 1


def test_get_one_company_and_the_404_and_400(api):
    response = api("GET", f"{COMPANIES}/4")
    assert response.status_code == 200
    validate(V1, "/v1/companies/{companyId}", "get", 200, response.json())
    assert response.json()["company_name"] == "Müller & Söhne GmbH"
    missing = api("GET", f"{COMPANIES}/99999")
    assert missing.status_code == 404 and list(missing.json()) == ["message"]
    assert api("GET", f"{COMPANIES}/abc").status_code == 400
    assert api("GET", COMPANIES, params={"order": "size"}).status_code == 400


def test_company_model_is_not_taken_for_a_company_id(api):
    response = api("GET", f"{COMPANIES}/model")
    assert response.status_code == 200
    validate(V1, "/v1/companies/model", "get", 200, response.json())


def test_contacts_name_real_companies_by_id(api):
    companies = {c["id"]: c["company_name"] for c in api("GET", COMPANIES).json()["companies"]}
    listed = api("GET", "/crm/rest/v1/contacts", params={"limit": 1000}).json()["contacts"]
    named = [contact["company"] for contact in listed if contact.get("company")]
    assert named
    for company in named:
        assert companies[company["id"]] == company["company_name"]


def test_a_contact_takes_the_company_name_from_the_company(api):
    created = api(
        "POST",
        "/crm/rest/v2/contacts",
        json={
            "email_addresses": [{"email": "works.at@example.test", "field": "EMAIL1"}],
            "company": {"id": "2", "company_name": "Not Contoso"},
        },
    )
    assert created.status_code == 201
    assert created.json()["company"] == {"id": "2", "company_name": "Contoso Ltd"}
    v1 = api("GET", f"/crm/rest/v1/contacts/{created.json()['id']}").json()
    assert v1["company"] == {"id": 2, "company_name": "Contoso Ltd"}
    assert v1["company_name"] == "Contoso Ltd"


def test_a_contact_naming_no_such_company_is_a_400(api):
    response = api(
        "POST",
        "/crm/rest/v1/contacts",
        json={
            "email_addresses": [{"email": "nowhere@example.test", "field": "EMAIL1"}],
            "company": {"id": 4242},
        },
    )
    assert response.status_code == 400 and "4242" in response.json()["message"]
