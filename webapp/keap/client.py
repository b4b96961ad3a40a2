"""What Onramp asks of Keap: KeapClient's operations, by resource.

Every operation is one or more calls made as webapp.keap.calls describes (limiter, token, send,
settle and record, retries). Answers are read in webapp.keap.answers and typed in
webapp.keap.results; nothing here handles HTTP itself.
"""

import functools
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from webapp.keap import answers, results
from webapp.keap.ahead import Reservation, SentCall
from webapp.keap.calls import Caller
from webapp.keap.errors import KeapNotFound, KeapProtocolError
from webapp.keap.models import DeveloperApp
from webapp.keap.results import AccountProfile, Contact, ContactPage, GoalResult, Hook, UserInfo

# Keap's largest page: the most contacts one filtered list call can bring back.
MAX_IDS_PER_CALL = 1000


class KeapClient(Caller):
    """Keap's API on behalf of one tenant (and usually one connection), in one lane."""

    # --- Identity ---------------------------------------------------------------------------

    def userinfo(self) -> UserInfo:
        """Who granted the token: GET /rest/v1/oauth/connect/userinfo."""
        body = self._json("userinfo.v1", "GET", "/rest/v1/oauth/connect/userinfo")
        return UserInfo(
            email=results.text(body, "email"),
            given_name=results.text(body, "given_name"),
            family_name=results.text(body, "family_name"),
            global_user_id=results.optional_int(body.get("global_user_id")),
            sub=results.text(body, "sub"),
        )

    def account_profile(self) -> AccountProfile:
        """The Keap app's business profile: GET /rest/v1/account/profile."""
        body = self._json("account_profile.v1", "GET", "/rest/v1/account/profile")
        return AccountProfile(
            name=results.text(body, "name"),
            email=results.text(body, "email"),
            phone=results.text(body, "phone"),
            website=results.text(body, "website"),
            time_zone=results.text(body, "time_zone"),
        )

    # --- Contacts ---------------------------------------------------------------------------

    def list_contacts_v1(
        self,
        *,
        limit: int = 1000,
        offset: int = 0,
        since: str = "",
        until: str = "",
        order: str = "id",
        order_direction: str = "ASCENDING",
    ) -> ContactPage:
        """GET /rest/v1/contacts: offset paging; `total` is Keap's count of every match."""
        params: dict[str, Any] = {
            "limit": limit,
            "offset": offset,
            "order": order,
            "order_direction": order_direction,
        }
        if since:
            params["since"] = since
        if until:
            params["until"] = until
        path = "/rest/v1/contacts"
        response = self._call("contacts.list.v1", "GET", path, params=params)
        body, contacts = answers.read_contacts(response, path, results.contact_from_v1)
        return ContactPage(contacts=contacts, total=results.optional_int(body.get("count")))

    def list_contacts_v2(
        self,
        *,
        page_size: int = 1000,
        page_token: str = "",
        filter: str = "",
        order_by: str = "",
        sent: SentCall | None = None,
    ) -> ContactPage:
        """GET /rest/v2/contacts: opaque page tokens; an empty next token ends the list.

        `sent`: this very call's first attempt, begun by start_list_contacts_v2() (and usually
        sent by another thread meanwhile); it is settled and read here rather than sent again.
        """
        path = "/rest/v2/contacts"
        params = _v2_list_params(page_size, page_token, filter, order_by)
        response = self._call("contacts.list.v2", "GET", path, params=params, sent=sent)
        read = sent.read_of(response) if sent is not None else None
        body, contacts = read or answers.read_contacts_v2(response, path)
        token = body.get("next_page_token") or ""
        if not isinstance(token, str):
            raise KeapProtocolError("Keap's next_page_token is not a string.")
        return ContactPage(contacts=contacts, next_page_token=token)

    def start_list_contacts_v2(
        self,
        *,
        page_size: int = 1000,
        page_token: str = "",
        filter: str = "",
        order_by: str = "",
        reserved: Reservation | None = None,
    ) -> SentCall:
        """The first attempt of list_contacts_v2() with these arguments, begun: the token and
        the limiter's grant taken here, the request sent by SentCall.send() (in any thread),
        judged, settled and read by list_contacts_v2(sent=...) (or discard()).

        Why: a sync fetches page k+1 in a thread while it stores page k. That thread waits on
        the socket (the GIL free) and reads the answer into contacts; the grant and the settle
        (database writes, which on SQLite would queue behind the page's upsert for the one
        write lock) and the judging of the answer stay in the storing thread.
        """
        path = "/rest/v2/contacts"
        params = _v2_list_params(page_size, page_token, filter, order_by)
        sent = self._begin("contacts.list.v2", "GET", path, reserved=reserved, params=params)
        sent.reader = functools.partial(answers.read_contacts_v2, path=path)
        return sent

    def contacts_by_ids(self, ids: Sequence[int]) -> list[Contact]:
        """GET /rest/v2/contacts with `filter=contact_ids==...`: these contacts as they are now, in
        one call for up to 1,000 ids. An id Keap no longer has is simply not listed."""
        if not ids:
            return []
        if len(ids) > MAX_IDS_PER_CALL:
            raise ValueError(f"At most {MAX_IDS_PER_CALL} contact ids in one call.")
        wanted = ",".join(str(int(i)) for i in ids)
        page = self.list_contacts_v2(page_size=len(ids), filter=f"contact_ids=={wanted}")
        return page.contacts

    def get_contact(self, contact_id: int, *, version: int = 1) -> Contact:
        """GET one contact by id."""
        if version == 2:
            body = self._json("contacts.get.v2", "GET", f"/rest/v2/contacts/{int(contact_id)}")
            return results.contact_from_v2(body)
        body = self._json("contacts.get.v1", "GET", f"/rest/v1/contacts/{int(contact_id)}")
        return results.contact_from_v1(body)

    def create_contact(
        self, fields: dict[str, Any], *, version: int = 1, duplicate_option: str = ""
    ) -> Contact:
        """Create a contact (v1 POST; v1 PUT upserts with duplicate_option; v2 POST either way).

        Not idempotent unless duplicate_option makes it an upsert, so it is retried after a
        timeout only then.
        """
        upsert = bool(duplicate_option)
        if version == 2:
            params = {"duplicate_option": duplicate_option} if upsert else None
            body = self._json(
                "contacts.create.v2", "POST", "/rest/v2/contacts", json=fields,
                params=params, idempotent=upsert,
            )  # fmt: skip
            return results.contact_from_v2(body)
        if upsert:
            payload = {**fields, "duplicate_option": duplicate_option}
            body = self._json("contacts.upsert.v1", "PUT", "/rest/v1/contacts", json=payload)
        else:
            body = self._json(
                "contacts.create.v1", "POST", "/rest/v1/contacts", json=fields, idempotent=False
            )
        return results.contact_from_v1(body)

    def update_contact(
        self, contact_id: int, fields: dict[str, Any], *, version: int = 1
    ) -> Contact:
        """PATCH only the given fields (v2 with an update_mask naming them)."""
        if version == 2:
            params = {"update_mask": ",".join(sorted(fields))}
            body = self._json(
                "contacts.update.v2", "PATCH", f"/rest/v2/contacts/{int(contact_id)}",
                json=fields, params=params,
            )  # fmt: skip
            return results.contact_from_v2(body)
        body = self._json(
            "contacts.update.v1", "PATCH", f"/rest/v1/contacts/{int(contact_id)}", json=fields
        )
        return results.contact_from_v1(body)

    # --- REST hooks (docs/keap/API.md §2.5) ----------------------------------------------------

    def list_hooks(self) -> list[Hook]:
        """GET /rest/v1/hooks: this tenant's subscriptions (every app's that subscribed)."""
        path = "/rest/v1/hooks"
        body = answers.decode(self._call("hooks.list.v1", "GET", path), path)
        if not isinstance(body, list):
            raise KeapProtocolError(f"Keap's answer to {path} is not a JSON array.")
        return [results.hook_from_v1(item) for item in body]

    def create_hook(self, *, event_key: str, hook_url: str) -> Hook:
        """POST /rest/v1/hooks. Keap confirms the URL before it answers (it posts X-Hook-Secret
        there): the subscription comes back Verified if the URL echoed it. Not idempotent."""
        body = self._json(
            "hooks.create.v1", "POST", "/rest/v1/hooks",
            json={"eventKey": event_key, "hookUrl": hook_url}, idempotent=False,
        )  # fmt: skip
        return results.hook_from_v1(body)

    def verify_hook(self, key: str) -> Hook:
        """POST /rest/v1/hooks/{key}/verify: confirm the URL again (how an Inactive one returns)."""
        path = f"/rest/v1/hooks/{quote(key, safe='')}/verify"
        return results.hook_from_v1(self._json("hooks.verify.v1", "POST", path, idempotent=True))

    def delete_hook(self, key: str) -> bool:
        """DELETE /rest/v1/hooks/{key}; False when Keap has no such subscription (any more)."""
        try:
            self._call("hooks.delete.v1", "DELETE", f"/rest/v1/hooks/{quote(key, safe='')}")
        except KeapNotFound:
            return False
        return True

    # --- Goals ------------------------------------------------------------------------------

    def achieve_goal(
        self, *, integration: str, call_name: str, contact_id: int, api: str = ""
    ) -> list[GoalResult]:
        """Achieve an API goal for a contact through the developer app's chosen API.

        Not idempotent: a goal that timed out may have fired, so it is retried only when Keap
        provably never saw it (connection refused, 429). The caller's idempotency key decides the
        rest.
        """
        api = api or self.app.goal_api
        if api == DeveloperApp.GoalApi.REST_V2:
            body = self._json(
                "goals.achieve.v2", "POST", "/rest/v2/automations/goals/achieve",
                json={"integration": integration, "call_name": call_name, "contact_id": contact_id},
                idempotent=False,
            )  # fmt: skip
            return results.goal_results(body.get("results"), id_key="automation_id")
        if api == DeveloperApp.GoalApi.XMLRPC:
            # The first argument is the legacy API key, which Keap ignores under OAuth.
            answer = self._xmlrpc(
                "goals.achieve.xmlrpc",
                "FunnelService.achieveGoal",
                ("", integration, call_name, int(contact_id)),
            )
            return results.goal_results(answer, id_key="campaign_id")
        path = f"/rest/v1/campaigns/goals/{quote(integration, safe='')}/{quote(call_name, safe='')}"
        answer = self._call(
            "goals.achieve.v1", "POST", path, json={"contact_id": contact_id}, idempotent=False
        )
        return results.goal_results(answers.decode(answer, path), id_key="campaign_id")


def _v2_list_params(page_size: int, page_token: str, filter: str, order_by: str) -> dict[str, Any]:
    params: dict[str, Any] = {"page_size": page_size}
    if page_token:
        params["page_token"] = page_token
    if filter:
        params["filter"] = filter
    if order_by:
        params["order_by"] = order_by
    return params
