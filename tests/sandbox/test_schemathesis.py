"""A property-based API tester (Schemathesis) driven by Keap's own OpenAPI documents, over every
REST operation the sandbox implements: whatever it sends, valid or not, the sandbox never answers
5xx, and every answer the document describes (every 2xx above all) fits it. v1 operations are
held to the v1 document, v2 ones to the 2026-08 v2 document, each read through
keap_doc_errata.patched(), the one place that says where Keap's documents are wrong about Keap.

Bounded for CI: a fixed seed (`derandomize`), a few examples per operation and mode, no example
database, and a sandbox of its own with limits raised through its settings control, so neither
throttling nor other tests' data make it flaky. A failure prints the request to replay.
"""

from functools import cache
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from tests.sandbox.conftest import ROOMY
from tests.sandbox.keap_doc_errata import patched
from tests.sandbox.openapi import V1, V2_2026
from tests.sandbox.server import bearer, run_sandbox

# Examples per operation for each of: valid input, invalid input, and (for operations on one
# record) valid input aimed at records that exist.
EXAMPLES = 12
CONTACTS = 40
# The REST operations the sandbox implements, as each document spells them. Left out: creating,
# updating and re-verifying hook subscriptions, which POST to the generated hookUrl and wait up
# to the hook timeout for an answer from whatever host that names.
OPERATIONS = [
    (V1, "GET", "/v1/oauth/connect/userinfo"),
    (V1, "GET", "/v1/account/profile"),
    (V1, "GET", "/v1/contacts"),
    (V1, "POST", "/v1/contacts"),
    (V1, "PUT", "/v1/contacts"),
    (V1, "GET", "/v1/contacts/model"),
    (V1, "GET", "/v1/contacts/{id}"),
    (V1, "PATCH", "/v1/contacts/{contactId}"),
    (V1, "DELETE", "/v1/contacts/{contactId}"),
    (V1, "GET", "/v1/contacts/{contactId}/tags"),
    (V1, "POST", "/v1/contacts/{contactId}/tags"),
    (V1, "DELETE", "/v1/contacts/{contactId}/tags"),
    (V1, "DELETE", "/v1/contacts/{contactId}/tags/{tagId}"),
    (V1, "GET", "/v1/tags"),
    (V1, "GET", "/v1/tags/{id}"),
    (V1, "GET", "/v1/companies"),
    (V1, "GET", "/v1/companies/model"),
    (V1, "GET", "/v1/companies/{companyId}"),
    (V1, "POST", "/v1/campaigns/goals/{integration}/{callName}"),
    (V1, "GET", "/v1/hooks"),
    (V1, "GET", "/v1/hooks/event_keys"),
    (V1, "GET", "/v1/hooks/{key}"),
    (V1, "DELETE", "/v1/hooks/{key}"),
    (V1, "POST", "/v1/hooks/{key}/delayedVerify"),
    (V2_2026, "GET", "/rest/v2/oauth/connect/userinfo"),
    (V2_2026, "GET", "/rest/v2/businessProfile"),
    (V2_2026, "GET", "/rest/v2/contacts"),
    (V2_2026, "POST", "/rest/v2/contacts"),
    (V2_2026, "GET", "/rest/v2/contacts/model"),
    (V2_2026, "GET", "/rest/v2/contacts/{contact_id}"),
    (V2_2026, "PATCH", "/rest/v2/contacts/{contact_id}"),
    (V2_2026, "DELETE", "/rest/v2/contacts/{contact_id}"),
    (V2_2026, "POST", "/rest/v2/automations/goals/achieve"),
    (V2_2026, "GET", "/rest/v2/campaigns"),
    (V2_2026, "GET", "/rest/v2/campaigns/{campaign_id}"),
    (V2_2026, "GET", "/rest/v2/campaigns/{campaign_id}/goals"),
]
# Statuses the sandbox answers that the document does not list, by its own choice rather than
# by anything known of Keap (so they are no erratum): a hook key that does not exist is a 404 on
# delayedVerify as on the hook's other operations, which do list it.
SANDBOX_CHOICES = {("POST", "/v1/hooks/{key}/delayedVerify"): {404}}
# Where each document's paths start on the sandbox (its `servers` name Keap's hosts).
BASE = {V1: "/crm/rest", V2_2026: "/crm"}
# Ids of records the sandbox has, by path parameter, for the third kind of example.
CONTACT_IDS = range(1, CONTACTS + 1)
TAG_IDS = range(101, 141)
POOLS = {
    "id": CONTACT_IDS,
    "contactId": CONTACT_IDS,
    "contact_id": CONTACT_IDS,
    "tagId": TAG_IDS,
    "companyId": range(1, 16),
    "integration": ["ab123"],
    "callName": ["purchased", "trialstarted", "cancelled"],
}
POOLS_BY_PATH = {"/v1/tags/{id}": {"id": TAG_IDS}}


def _with_email(body: Any, email: dict[str, str]) -> Any:
    """A generated contact body made acceptable: reachable by email, and without the custom
    field and company ids a generator cannot know."""
    if not isinstance(body, dict):
        return body
    kept = {key: value for key, value in body.items() if key not in ("custom_fields", "company")}
    return {**kept, "email_addresses": [email]}


V1_EMAIL = {"email": "fuzz.v1@example.test", "field": "EMAIL1"}
V2_EMAIL = {"email": "fuzz.v2@example.test", "field": "EMAIL1"}
# How the third kind of example repairs a generated body so the sandbox is likely to accept it
# (and so answer 2xx bodies to check), by operation.
REPAIRS = {
    ("POST", "/v1/contacts"): lambda body, ids: _with_email(body, V1_EMAIL),
    ("PUT", "/v1/contacts"): lambda body, ids: _with_email(body, V1_EMAIL),
    ("PATCH", "/v1/contacts/{contactId}"): lambda body, ids: _with_email(body, V1_EMAIL),
    ("POST", "/rest/v2/contacts"): lambda body, ids: _with_email(body, V2_EMAIL),
    ("PATCH", "/rest/v2/contacts/{contact_id}"): lambda body, ids: _with_email(body, V2_EMAIL),
    ("POST", "/v1/contacts/{contactId}/tags"): lambda body, ids: {"tagIds": [ids["tag"]]},
    ("POST", "/v1/campaigns/goals/{integration}/{callName}"): (
        lambda body, ids: {"contact_id": ids["contact"]}
    ),
    ("POST", "/rest/v2/automations/goals/achieve"): lambda body, ids: {
        "integration": "ab123",
        "call_name": "purchased",
        "contact_id": ids["contact"],
    },
}


@cache
def _schema(document: str) -> Any:
    return schemathesis.openapi.from_dict(patched(document))


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    """A sandbox of its own (fuzzing deletes and edits records) and a token for tenant ab123."""
    env = {"SANDBOX_SEED_CONTACTS": str(CONTACTS), "SANDBOX_HOOK_SENDERS": "0"}
    with run_sandbox(tmp_path_factory.mktemp("schemathesis-sandbox"), env=env) as server:
        server.set_limits(**ROOMY, key_limit_per_second=100_000, key_limit_per_minute=1_000_000)
        yield server, bearer(server.issue_tokens()["access_token"])


def _strategy(document: str, method: str, path: str, campaign_ids: list[int]) -> Any:
    """Valid input, invalid input, and valid input aimed at records that exist (with a body
    repaired to be accepted where REPAIRS says how)."""
    operation = _schema(document)[path][method]
    strategies = [
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    ]
    pools = {**POOLS, "campaign_id": campaign_ids, **POOLS_BY_PATH.get(path, {})}
    names = [part.split("}")[0] for part in path.split("{")[1:]]
    repair = REPAIRS.get((method, path))
    if all(name in pools for name in names) and (names or repair):
        chosen = st.fixed_dictionaries(
            {
                "path": st.fixed_dictionaries(
                    {name: st.sampled_from(list(pools[name])) for name in names}
                ),
                "contact": st.sampled_from(CONTACT_IDS),
                "tag": st.sampled_from(TAG_IDS),
            }
        )
        strategies.append(chosen.flatmap(lambda ids: _aimed(operation, ids, repair)))
    return st.one_of(strategies)


def _aimed(operation: Any, ids: dict[str, Any], repair: Any) -> Any:
    path = {name: str(value) for name, value in ids["path"].items()}
    cases = operation.as_strategy(path_parameters=path)
    if repair is None:
        return cases
    return cases.map(lambda case: _repaired(case, repair, ids))


def _repaired(case: Any, repair: Any, ids: dict[str, Any]) -> Any:
    case.body = repair(case.body, ids)
    return case


@pytest.mark.parametrize(
    ("document", "method", "path"),
    OPERATIONS,
    ids=[f"{'v1' if doc == V1 else 'v2'} {method} {path}" for doc, method, path in OPERATIONS],
)
def test_no_5xx_and_answers_fit_keaps_documents(fuzzed, document, method, path):
    server, auth = fuzzed
    campaign_ids = _campaign_ids(server.url, auth["Authorization"])
    base_url = f"{server.url}{BASE[document]}"

    @settings(
        max_examples=EXAMPLES * 3,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(case=_strategy(document, method, path, campaign_ids))
    def run(case):
        # The caller's own credential, whatever the generated headers say.
        case.headers = {**(case.headers or {}), **auth}
        extra = SANDBOX_CHOICES.get((method, path), set())
        checks = [not_a_server_error, response_schema_conformance]
        response = case.call_and_validate(
            base_url=base_url,
            checks=[*checks, status_code_conformance] if not extra else checks,
            timeout=30,
        )
        if extra:
            documented = {int(code) for code in case.operation.definition.raw["responses"]}
            assert response.status_code in documented | extra, response.status_code

    run()


@cache
def _campaign_ids(url: str, authorization: str) -> list[int]:
    body = requests.get(
        f"{url}/crm/rest/v2/campaigns", headers={"Authorization": authorization}, timeout=10
    ).json()
    return [int(campaign["id"]) for campaign in body["campaigns"]]


def test_every_listed_operation_is_in_its_document_and_served():
    for document, method, path in OPERATIONS:
        assert method.lower() in patched(document)["paths"][path]
