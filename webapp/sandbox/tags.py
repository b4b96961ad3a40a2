"""Tags (Keap's "contact groups"): a tenant's tags, which contacts carry them, applying and
removing them, and rendering them in v1's shapes (Tag, ContactTag).

Which tags a contact carries, and since when, is kept on the contact (`data["tag_ids"]` and
`data["tag_applied"]`, epoch ms by tag id), where the contact renderers already read `tag_ids`.
A seeded contact has no `tag_applied`: its tags count as applied when it was created.

Applying or removing a tag does not change the contact's last-updated time and queues no
contact.edit for REST hooks: Keap reports tags through their own events (contactGroup.applied,
contactGroup.removed; docs/keap/API.md §2.5), which the sandbox does not send yet. Whether Keap
moves last_updated on a tag change is UNCONFIRMED.
"""

from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from webapp.sandbox.contact_fields import now_ms, v1_time
from webapp.sandbox.locking import write_lock
from webapp.sandbox.models import Contact, Tag, Tenant

# The per-tag results of applying tags (the v1 document's enum for them).
SUCCESS = "SUCCESS"
DUPLICATE = "DUPLICATE"
TAG_ID_NOT_FOUND = "TAG_ID_NOT_FOUND"
CONTACT_NOT_FOUND = "CONTACT_NOT_FOUND"
# Keap's PHP SDK refuses more than 100 tag ids in one apply or remove (ContactService::addTags,
# removeTags); the sandbox answers a 400 instead.
MAX_TAG_IDS = 100


def for_tenant(tenant: Tenant) -> QuerySet[Tag]:
    return Tag.objects.filter(tenant=tenant).select_related("category").order_by("keap_id")


def to_v1(tag: Tag) -> dict[str, Any]:
    """v1's Tag: id, name, description and category {id, name, description}."""
    body: dict[str, Any] = {"id": tag.keap_id, "name": tag.name}
    if tag.description:
        body["description"] = tag.description
    if tag.category is not None:
        category: dict[str, Any] = {"id": tag.category.keap_id, "name": tag.category.name}
        if tag.category.description:
            category["description"] = tag.category.description
        body["category"] = category
    return body


def applied_v1(tenant: Tenant, contact: Contact) -> list[dict[str, Any]]:
    """v1's ContactTag for each tag the contact carries, in tag id order."""
    ids = contact.data.get("tag_ids", [])
    dates = contact.data.get("tag_applied", {})
    known = {tag.keap_id: tag for tag in for_tenant(tenant).filter(keap_id__in=ids)}
    result = []
    for tag_id in sorted(ids):
        tag = known.get(tag_id)
        if tag is None:
            continue
        simple: dict[str, Any] = {"id": tag.keap_id, "name": tag.name}
        if tag.category is not None:
            simple["category"] = tag.category.name
        when = dates.get(str(tag_id), contact.created_ms)
        result.append({"date_applied": v1_time(when), "tag": simple})
    return result


def apply(tenant: Tenant, contact_id: int, tag_ids: list[int]) -> dict[int, str]:
    """Apply tags to a contact; the result of each by tag id: SUCCESS, DUPLICATE,
    TAG_ID_NOT_FOUND, or CONTACT_NOT_FOUND for all of them when there is no such contact.

    The document gives this operation no 404 but has CONTACT_NOT_FOUND among the results, so a
    missing contact is reported in the results (UNCONFIRMED on the wire).
    """
    with write_lock(), transaction.atomic():
        contact = Contact.objects.filter(tenant=tenant, keap_id=contact_id).first()
        if contact is None:
            return dict.fromkeys(tag_ids, CONTACT_NOT_FOUND)
        known = set(
            Tag.objects.filter(tenant=tenant, keap_id__in=tag_ids).values_list("keap_id", flat=True)
        )
        carried = set(contact.data.get("tag_ids", []))
        dates = dict(contact.data.get("tag_applied", {}))
        results: dict[int, str] = {}
        stamp = now_ms()
        for tag_id in tag_ids:
            if tag_id in results:
                continue
            if tag_id not in known:
                results[tag_id] = TAG_ID_NOT_FOUND
            elif tag_id in carried:
                results[tag_id] = DUPLICATE
            else:
                results[tag_id] = SUCCESS
                carried.add(tag_id)
                dates[str(tag_id)] = stamp
        if SUCCESS in results.values():
            contact.data = {**contact.data, "tag_ids": sorted(carried), "tag_applied": dates}
            Contact.objects.filter(pk=contact.pk).update(data=contact.data)
    return results


def remove(tenant: Tenant, contact_id: int, tag_ids: list[int]) -> bool:
    """Remove tags from a contact (ones it does not carry are no error); False when the
    contact does not exist."""
    with write_lock(), transaction.atomic():
        contact = Contact.objects.filter(tenant=tenant, keap_id=contact_id).first()
        if contact is None:
            return False
        gone = set(tag_ids)
        carried = contact.data.get("tag_ids", [])
        if gone & set(carried):
            dates = {
                key: value
                for key, value in contact.data.get("tag_applied", {}).items()
                if int(key) not in gone
            }
            kept = [tag_id for tag_id in carried if tag_id not in gone]
            contact.data = {**contact.data, "tag_ids": kept, "tag_applied": dates}
            Contact.objects.filter(pk=contact.pk).update(data=contact.data)
    return True
