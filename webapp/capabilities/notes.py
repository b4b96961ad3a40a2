"""Capability notes: what Keap's API can and cannot do, and what Onramp does about it.

The notes are Python data (frozen dataclasses), not a JSON or YAML file: they are read-only, change
only with a release, and so are checked like code (ruff, mypy, a typo in a status fails at import),
need no loader or parser, and cost nothing per request. Each restates in Onramp's own words a fact
from Keap's API FAQ (developer.infusionsoft.com/faqs) or from the newer sources gathered in docs/keap/API.md,
and names those sources. Figures that change (this app's limits, today's calls) are not written
here: a note with `shows_limits` gets them at render time from webapp.capabilities.limits.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class Status(enum.StrEnum):
    UNAVAILABLE = "unavailable"
    PARTIAL = "partial"
    AVAILABLE = "available"

    @property
    def label(self) -> str:
        return {"unavailable": "Not possible", "partial": "Partly", "available": "Possible"}[self]


@dataclass(frozen=True)
class Source:
    title: str
    url: str


@dataclass(frozen=True)
class Note:
    slug: str
    title: str
    question: str  # as a customer would ask it
    status: Status
    answer: str  # one or two plain sentences
    short: str  # one line for callouts beside the feature
    details: tuple[str, ...]  # paragraphs
    onramp: str  # what Onramp does about it
    sources: tuple[Source, ...]
    shows_limits: bool = False  # render this app's live limits and today's usage beside it

    def matches(self, query: str) -> bool:
        """Every word of the query appears, ignoring case, in the title, question, answer or details."""
        haystack = " ".join((self.title, self.question, self.answer, *self.details)).casefold()
        return all(word in haystack for word in query.casefold().split())


FAQ = Source("Keap API FAQ", "https://developer.infusionsoft.com/faqs/")
REST_V1_SPEC = Source(
    "Keap REST v1 OpenAPI document", "https://crm.infusionsoft.com/app/v3/api-docs/V1"
)
REST_V2_SPEC = Source(
    "Keap REST v2 OpenAPI document (infusionsoft/keap-sdk, sdks/v2/swagger.yml)",
    "https://github.com/infusionsoft/keap-sdk",
)
XMLRPC_DOCS = Source("Keap XML-RPC reference", "https://developer.infusionsoft.com/docs/xml-rpc/")
DEVELOPER_GUIDE = Source(
    "Keap developer guide (API versions and their status)",
    "https://developer.infusionsoft.com/developer-guide",
)

NOTES: tuple[Note, ...] = (
    Note(
        slug="refunds",
        title="Refunds",
        question="Can Onramp refund an order in Keap for me?",
        status=Status.UNAVAILABLE,
        answer=(
            "No. Keap's API has no operation that issues a refund, so no integration can do it; "
            "refunds are made inside Keap itself."
        ),
        short="Keap's API cannot issue refunds; make them on the order in Keap.",
        details=(
            "Keap's FAQ states plainly that refunds cannot be made through the API, and that is "
            "still true: neither the v1 nor the v2 OpenAPI document describes a refund call.",
            "Orders and transactions read through the API do say whether money was given back "
            "(fields such as refund_total and refund_status, and REFUND or REFUNDED values), but "
            "those fields can only be read, never set.",
        ),
        onramp=(
            "Onramp offers no refund action and does not pretend to: refunds are made on the "
            "order in Keap."
        ),
        sources=(
            Source("Keap API FAQ: refunding an order", FAQ.url),
            REST_V1_SPEC,
            REST_V2_SPEC,
        ),
    ),
    Note(
        slug="email_history",
        title="Email history",
        question="Can I see every email a contact was sent, opened or clicked?",
        status=Status.PARTIAL,
        answer=(
            "Only in part. Keap keeps its full email history in tables the API cannot reach; what "
            "an integration can read is a list of sent-email records, plus a few saved searches."
        ),
        short="Keap's API does not expose full email history, only sent-email records.",
        details=(
            "Keap does not expose the tables behind a contact's email history. Its FAQ points to "
            "a handful of saved searches, run through the older XML-RPC API, that return pieces "
            "of it.",
            "The REST API adds sent-email records: GET /v1/emails and GET "
            "/v1/contacts/{id}/emails list them (subject, addresses, when each was sent, received, "
            "opened and clicked), and GET /v2/emails does the same with filters on contact, "
            "address and date. Fetching one record by id also returns its HTML and plain-text "
            "body. Keap warns that very large result sets are slow.",
            "These records are what Keap chooses to expose, not its history tables. The REST calls "
            "that create email records only store copies (for example from a Gmail or Outlook "
            "sync); they do not send anything.",
        ),
        onramp=(
            "Onramp syncs contacts, not emails, so its contacts table has no email history. "
            "For a contact's emails, look in Keap; the most any integration could add is Keap's "
            "sent-email records."
        ),
        sources=(
            Source("Keap API FAQ: a contact's email history", FAQ.url),
            REST_V1_SPEC,
            REST_V2_SPEC,
            XMLRPC_DOCS,
        ),
    ),
    Note(
        slug="campaign_builder",
        title="Campaign Builder",
        question="Can Onramp build or change my Keap campaigns?",
        status=Status.PARTIAL,
        answer=(
            "No, but it can drive them. Through the API an integration can complete API goals in "
            "your campaigns and put contacts into, or take them out of, sequences; the campaigns "
            "themselves are built and edited only in Keap's Campaign Builder."
        ),
        short="The API can complete API goals and move contacts in and out of sequences, not edit campaigns.",
        details=(
            "When Keap's FAQ was written, the only campaign action open to the API was completing "
            "a goal, through the XML-RPC FunnelService. That still works, and REST now offers the "
            "same as POST /v1/campaigns/goals/{integration}/{callName} and, in v2, "
            "POST /v2/automations/goals/achieve.",
            "Since then REST has added reading campaigns, their goals and sequences, and adding or "
            "removing contacts to a sequence (v1 /campaigns/{id}/sequences/{seq}/contacts; v2 "
            ":addContacts and :removeContacts). The v2 API can also publish, unpublish or delete "
            "an automation.",
            "Creating a campaign, drawing its steps or changing what a step does is still not "
            "possible outside Campaign Builder.",
            "Only goals of the API type respond to these calls. A goal fires for every published "
            "campaign whose API goal has the same integration name and call name.",
        ),
        onramp=(
            "Onramp completes API goals for you: set up an API goal in Campaign Builder, then give "
            "Onramp the same integration and call names. Each completion is sent once; if Keap's "
            "answer is lost, Onramp marks it uncertain and lets you decide instead of firing the "
            "goal twice."
        ),
        sources=(
            Source("Keap API FAQ: Campaign Builder access", FAQ.url),
            REST_V1_SPEC,
            REST_V2_SPEC,
            XMLRPC_DOCS,
        ),
    ),
    Note(
        slug="throttling",
        title="Throttling and quotas",
        question="How many API calls may Onramp make, and what happens at the limit?",
        status=Status.AVAILABLE,
        answer=(
            "Keap caps calls per developer app (per second, per minute and per UTC day, shared by "
            "every customer the app serves) and per customer Keap app. Onramp paces itself to "
            "stay inside those caps and shows how much of today's budget is used."
        ),
        short="Keap caps this app's calls per second, minute and day, shared by every customer.",
        details=(
            "With OAuth, Keap meters the developer app as a whole: one client id and secret "
            "share one budget across every Keap app it is connected to. Keap documents 1,500 "
            "calls a minute and 150,000 a day, reset at midnight UTC, and a spike limit of 25 "
            "calls a second that it reports no figures for.",
            "Since June 2026 each customer's Keap app has its own cap as well, 10,000 calls a "
            "minute and 250,000 a day, whatever kind of credential is used.",
            "The FAQ's figure of 125,000 calls a day at up to 25 a second is out of date: the "
            "per-second pacing became a per-minute window when Keap moved gateways in January "
            "2020, and the daily budget has since grown.",
            "The FAQ's token-bank description (10,000 tokens per Keap app, one returned every "
            "half second) applied only to the legacy XML-RPC API keys, which Keap is retiring.",
            "Every response carries x-keap-* headers with the budget used and left; a call over "
            "the limit gets HTTP 429, and Keap advises backing off before trying again.",
        ),
        onramp=(
            "All of Onramp's calls share one limiter that holds this app's limits, so a call Keap "
            "would refuse is never sent. It reads Keap's quota headers after each call, waits "
            "and retries on 429, keeps part of each day's budget for calls a person is waiting "
            "for, and counts every call, so today's usage is exact."
        ),
        sources=(
            Source(
                "Keap: Throttles and Quotas",
                "https://developer.infusionsoft.com/api-token-quota-and-usage-measurements/",
            ),
            Source(
                "Keap: per-application-instance limits (June 2026)",
                "https://developer.infusionsoft.com/?p=2637",
            ),
            Source(
                "Keap API FAQ: how throttling works",
                "https://developer.infusionsoft.com/faqs/how-does-throttling-work/",
            ),
            Source(
                "Keap community: Apigee migration update (429s, per-minute windows)",
                "https://community.keap.com/t/apigee-migration-update/74173",
            ),
            Source(
                "Keap forum: another API throttling question (quotas per app or tenant)",
                "https://integration.keap.com/t/another-api-throttling-question/92313",
            ),
            Source(
                "Keap forum: updates to returned throttle and quota headers",
                "https://integration.keap.com/t/updates-to-returned-throttle-quota-headers/88994",
            ),
        ),
        shows_limits=True,
    ),
    Note(
        slug="oauth_api_keys",
        title="OAuth 2.0 versus API keys",
        question="Why does Onramp ask me to sign in to Keap instead of pasting an API key?",
        status=Status.AVAILABLE,
        answer=(
            "Keap requires OAuth 2.0 for any integration listed in its marketplace. Keys exist "
            "too, but they are meant for a business's own scripts and carry smaller limits."
        ),
        short="Marketplace integrations must use OAuth 2.0; API keys have smaller limits.",
        details=(
            "With OAuth you approve Onramp on Keap's own page, choose which Keap app it may use, "
            "and can withdraw that approval from Keap at any time; Onramp never sees your Keap "
            "password. Keap meters OAuth traffic per developer app.",
            "Personal Access Tokens and Service Account Keys are made in Keap under Settings, API "
            "Settings, and are sent in an X-Keap-API-Key header. Keap does not allow them for "
            "marketplace listings. Each key has its own small budget: 10 calls a second, 240 a "
            "minute and 30,000 a day.",
            "The old XML-RPC API keys are being retired; Keap planned to switch them off in early "
            "2025 and asks their users to move to the keys above or to OAuth.",
        ),
        onramp=(
            "Onramp connects only through OAuth. Its tokens are stored encrypted, refreshed before "
            "they expire, and never shown on any page; if Keap stops accepting them, Onramp "
            "pauses that connection and asks you to reconnect."
        ),
        sources=(
            Source(
                "Keap: getting started with OAuth keys",
                "https://developer.infusionsoft.com/getting-started-oauth-keys",
            ),
            Source(
                "Keap API FAQ: using an API key",
                "https://developer.infusionsoft.com/faqs/can-use-api-key",
            ),
            Source(
                "Keap: Personal Access Tokens and Service Account Keys",
                "https://developer.infusionsoft.com/pat-and-sak",
            ),
            Source(
                "Keap: legacy API key migration",
                "https://developer.infusionsoft.com/legacy-key-migration",
            ),
            Source(
                "Keap forum: API authentication (X-Keap-API-Key)",
                "https://integration.keap.com/t/api-authentication/91017",
            ),
        ),
    ),
    Note(
        slug="sandbox_accounts",
        title="Sandbox accounts for testing",
        question="Can I try an integration without touching my real Keap data?",
        status=Status.AVAILABLE,
        answer=(
            "Yes. Keap gives developers free sandbox Keap apps to test against, and Onramp ships "
            "a Keap simulator of its own for development and tests."
        ),
        short="Keap offers free developer sandboxes, and Onramp ships a local Keap simulator.",
        details=(
            "Registering in Keap's developer center gets you a developer app (client id and "
            "secret) and a free sandbox Keap app, which you can explore with Keap's interactive "
            "API documentation before writing any code.",
            "A sandbox is a real Keap app on Keap's servers, so its calls count against your "
            "developer app's quotas like any other.",
        ),
        onramp=(
            "Onramp also includes its own Keap sandbox: a separate local process that answers at "
            "Keap's paths with Keap's OAuth flow, contacts, goals, quota headers and 429s. Onramp "
            "runs against it unchanged (only the host differs), so you can try everything, "
            "including hitting the limits, without a Keap account."
        ),
        sources=(
            Source("Keap API FAQ: an account to test on", FAQ.url),
            DEVELOPER_GUIDE,
        ),
    ),
    Note(
        slug="sync_tokens",
        title="Sync tokens and incremental sync",
        question="Can Onramp fetch only the contacts that changed since the last sync?",
        status=Status.PARTIAL,
        answer=(
            "Yes, though not with sync tokens. Keap's sync tokens cover only a few kinds of "
            "record, and contacts are not among them; contacts can instead be filtered by when "
            "they were last updated."
        ),
        short="Contacts have no sync token; Onramp syncs by last-updated time instead.",
        details=(
            "Keap launched its REST API with a sync token feature, but in the v1 API it only "
            "appears for tasks, appointments and products (GET /v1/products/sync), and Keap's "
            "PHP SDK marks contacts, companies, emails, notes, tags and others as unable to sync. "
            "The v2 API has no sync tokens at all.",
            "For contacts, v1 accepts since and until on the last-updated time, ordered by it; "
            "v2 takes start_update_time and end_update_time in its filter, ordered by update "
            "time.",
            "A filter on update time does not report deletions, so a contact removed in Keap is "
            "only noticed by a full pass.",
        ),
        onramp=(
            "Onramp keeps a watermark per connection and asks Keap for contacts updated since it, "
            "with a small overlap so an edit made during a sync is not missed. A full reconcile "
            "run finds contacts deleted in Keap."
        ),
        sources=(
            Source(
                "Keap blog: the REST API launch and sync tokens",
                "https://developer.infusionsoft.com/blog",
            ),
            REST_V1_SPEC,
            REST_V2_SPEC,
            Source(
                "Keap PHP SDK (infusionsoft/infusionsoft-php): CannotSync services",
                "https://github.com/infusionsoft/infusionsoft-php",
            ),
        ),
    ),
    Note(
        slug="rest_api",
        title="REST and XML-RPC",
        question="Which of Keap's APIs does Onramp use?",
        status=Status.AVAILABLE,
        answer=(
            "Keap has two REST versions and the older XML-RPC API. Onramp uses REST, and XML-RPC "
            "only where an operator chooses it for goals."
        ),
        short="Onramp uses Keap's REST API; XML-RPC is deprecated.",
        details=(
            "Keap's developer guide lists REST v2 as active, REST v1 as current and XML-RPC as "
            "deprecated. REST needs fewer calls for the same work than XML-RPC did, and both "
            "accept the same OAuth tokens.",
            "The two REST versions differ in detail: v1 pages by offset and uses numeric ids, "
            "v2 pages with opaque tokens and uses string ids.",
        ),
        onramp=(
            "Onramp reads contacts through REST and completes goals through REST v1 by default; "
            "an operator can switch a developer app's goals to REST v2 or to XML-RPC's "
            "FunnelService."
        ),
        sources=(DEVELOPER_GUIDE, REST_V1_SPEC, REST_V2_SPEC, XMLRPC_DOCS),
    ),
)

_BY_SLUG: dict[str, Note] = {note.slug: note for note in NOTES}


def get(slug: str) -> Note:
    """The note with this slug; KeyError (naming the known slugs) when there is none."""
    try:
        return _BY_SLUG[slug]
    except KeyError:
        raise KeyError(f"No capability note {slug!r}; known: {', '.join(_BY_SLUG)}") from None


def search(query: str = "", notes: Iterable[Note] = NOTES) -> list[Note]:
    """Notes matching every word of `query` (all of them when it is blank), in their usual order."""
    return [note for note in notes if note.matches(query)]
