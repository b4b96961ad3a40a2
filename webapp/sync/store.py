"""Storing one page of Keap contacts: idempotent bulk upserts that never rewrite an unchanged row.

Per page, in two steps:
1. prepare_page(), outside any transaction (on SQLite it would hold the one write lock): each record
   becomes the upsert's row in one tight loop: texts truncated to the column sizes and made
   storable, the raw record as Keap's own JSON text for it, and a fingerprint of that text
   (blake2b), the row's `content_hash`.
2. store_page(), inside the caller's transaction (the page and its checkpoint commit together):
   ONE select reads the fingerprints already stored, and only new and changed rows are upserted
   in one statement (INSERT ... ON CONFLICT DO UPDATE ... WHERE the fingerprint differs, so
   even a row that changed under us is never rewritten with what it already holds).
A record that cannot be stored is skipped with a reason; it never fails the page.
"""

import hashlib
import json
import logging
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson
from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import CharField
from django.utils import timezone

from webapp.keap.results import Contact as KeapContact
from webapp.keap.results import finite, loads
from webapp.sync.models import Contact

log = logging.getLogger(__name__)

# Bump when the mapping from a Keap record to the columns changes: every row is rewritten once.
# 2: the fingerprint is of Keap's own JSON text for the record, no longer of a re-encoding.
# 3: the raw record (and its fingerprint) as orjson writes it: compact, in Keap's key order.
# 4: the raw record as Keap's own text for it again, now read without a re-encoding (msgspec).
NORMALISATION_VERSION = "4"
MAX_KEAP_ID = 2**63 - 1
# Keap sends at most 3 emails and 5 phones; anything beyond this is not worth keeping.
MAX_LIST_ITEMS = 20
MAX_TAGS = MAX_LIST_ITEMS * 50
# The upsert's columns, in the order of a prepared row's values (then synced_at).
INSERT_COLUMNS = [
    "connection_id",
    "keap_id",
    "given_name",
    "family_name",
    "email",
    "email_addresses",
    "phone_numbers",
    "company",
    "tag_ids",
    "keap_updated_at",
    "raw",
    "content_hash",
    "search_text",
    "synced_at",
]
UPDATE_FIELDS = INSERT_COLUMNS[2:]
_DIGEST_AT = INSERT_COLUMNS.index("content_hash")
_RAW_JSON = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False, default=str
)
_LIST_JSON = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=str
)


# Only for what orjson cannot write (scrubbed lists, tag ids past 64 bits): rare, so plain json.
_encode_json = _LIST_JSON.encode
_PERSON = f"onramp-contact{NORMALISATION_VERSION}".encode()[:16]


def _max_length(name: str) -> int:
    field = Contact._meta.get_field(name)
    assert isinstance(field, CharField) and field.max_length is not None
    return field.max_length


_MAX_LENGTH = {
    name: _max_length(name) for name in ("given_name", "family_name", "email", "company")
}


@dataclass
class PageResult:
    """What storing one page did."""

    fetched: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    skipped_reasons: list[dict[str, Any]] = field(default_factory=list)
    # Local contacts inside the page's id range that Keap no longer lists (full syncs only).
    missing_ids: list[int] = field(default_factory=list)

    def skip(self, keap_id: Any, reason: str) -> None:
        self.skipped += 1
        self.skipped_reasons.append({"keap_id": keap_id, "reason": reason[:200]})


def _text(value: Any, max_length: int | None) -> str:
    """Text a database column accepts: no NULs, no lone surrogates, at most max_length."""
    text = value if type(value) is str else "" if value is None else str(value)
    # The common case, cheaply: isascii() is a flag lookup, so no encoding test is needed.
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = text.encode("utf-8", "replace").decode("utf-8")
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text[:max_length] if max_length else text


def _scrub(value: Any) -> Any:
    """A JSON value with every string made storable (PostgreSQL's jsonb refuses \\u0000) and
    every NaN or infinity null (no database takes them as JSON)."""
    if isinstance(value, str):
        return _text(value, None)
    if isinstance(value, dict):
        return {_text(k, None): _scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return finite(value)


def _raw_json(record: KeapContact) -> tuple[bytes, str, bool]:
    """The record's JSON text as it will be stored (UTF-8, and as text), and whether it is
    Keap's text as it came (if not, the lists taken from it need scrubbing too).

    Keap's own text for the record is stored as it came, unless it holds what a database
    refuses: PostgreSQL's jsonb takes neither \\u0000 nor a lone surrogate escape (a pair, rare,
    takes this path too), and text must be UTF-8. Those records are decoded, scrubbed and
    written again by the json module."""
    raw = record.raw_json
    # One scan for the usual record, with no \\u escape at all; three for the rest.
    if b"\\u" not in raw or (b"\\u0000" not in raw and b"\\ud" not in raw and b"\\uD" not in raw):
        try:
            return raw, raw.decode(), True
        except UnicodeDecodeError:
            pass
    text = _RAW_JSON.encode(_scrub(loads(raw)))
    return text.encode(), text, False


def _list_json(items: list[Any], clean: bool) -> str:
    if not items:
        return "[]"
    items = items[:MAX_LIST_ITEMS]
    if clean:  # the record's text holds no NUL and no lone surrogate, so this part neither
        try:
            return orjson.dumps(items).decode()
        except orjson.JSONEncodeError:  # an integer past 64 bits
            pass
    return _encode_json(_scrub(items))


def _tags_json(tags: list[int]) -> str:
    if not tags:
        return "[]"
    try:
        return orjson.dumps(tags[:MAX_TAGS]).decode()
    except orjson.JSONEncodeError:  # an id past 64 bits
        return _encode_json(tags[:MAX_TAGS])


@dataclass
class PreparedPage:
    """A page's records as the upsert's rows, keyed by Keap id (the last copy of a record wins),
    with the records that could not be made into rows."""

    fetched: int
    rows: dict[int, tuple[Any, ...]]
    skipped: list[tuple[Any, str]]


def prepare_page(*, connection_id: int, records: list[KeapContact]) -> PreparedPage:
    """Each record as the row to upsert (no database access: run it outside the transaction)."""
    rows: dict[int, tuple[Any, ...]] = {}
    skipped: list[tuple[Any, str]] = []
    adapt_datetime = _datetime_adapter()
    new = hashlib.blake2b
    max_given, max_family = _MAX_LENGTH["given_name"], _MAX_LENGTH["family_name"]
    max_email, max_company = _MAX_LENGTH["email"], _MAX_LENGTH["company"]
    for record in records:
        keap_id: Any = getattr(record, "id", None)  # checked, whatever the record holds
        try:
            if not 0 < keap_id <= MAX_KEAP_ID:
                skipped.append((keap_id, "Keap id out of range"))
                continue
            raw_bytes, raw_text, clean = _raw_json(record)
            if clean:
                # Every text field was read from this record's text, which holds no NUL and no
                # lone surrogate: only the column sizes are left to apply.
                given_name = record.given_name[:max_given]
                family_name = record.family_name[:max_family]
                email = record.email[:max_email]
                company = record.company[:max_company]
            else:
                given_name = _text(record.given_name, max_given)
                family_name = _text(record.family_name, max_family)
                email = _text(record.email, max_email)
                company = _text(record.company, max_company)
            updated_at = record.updated_at
            row = (
                connection_id,
                keap_id,
                given_name,
                family_name,
                email,
                _list_json(record.email_addresses, clean),
                _list_json(record.phone_numbers, clean),
                company,
                _tags_json(record.tag_ids),
                adapt_datetime(updated_at) if updated_at else None,
                raw_text,
                new(raw_bytes, digest_size=16, person=_PERSON).hexdigest(),
                f"{given_name} {family_name} {email}".casefold(),
            )
        except Exception as exc:  # one odd record must never fail the page
            log.warning("Skipping Keap contact %s: %r", keap_id, exc)
            skipped.append((keap_id, f"unreadable record ({type(exc).__name__})"))
            continue
        if keap_id in rows:
            skipped.append((keap_id, "listed twice in one page; the last copy was kept"))
        rows[keap_id] = row
    return PreparedPage(fetched=len(records), rows=rows, skipped=skipped)


def _datetime_adapter() -> Any:
    """How this database takes an aware datetime as a parameter (what the ORM would send)."""
    if connection.vendor == "sqlite":
        # The ORM's own format for SQLite: naive UTC, "YYYY-MM-DD HH:MM:SS[.ffffff]".
        return _sqlite_datetime
    if connection.vendor == "postgresql":
        # ISO 8601 with its offset: the page travels as JSON text (see _upsert_sql).
        return lambda value: value.isoformat()
    return connection.ops.adapt_datetimefield_value


def _sqlite_datetime(value: datetime) -> str:
    # The common case (Keap's "Z"), cheaply: str() of an aware UTC value, less its "+00:00".
    if value.tzinfo is UTC:
        return str(value)[:-6]
    return str(value.astimezone(UTC).replace(tzinfo=None))


def store_page(
    *,
    connection_id: int,
    records: list[KeapContact],
    id_range: tuple[int, int | None] | None = None,
    prepared: PreparedPage | None = None,
) -> PageResult:
    """Upsert one page of contacts for a connection; return what happened to each.

    `prepared` is prepare_page()'s answer for these records when the caller made it already
    (outside its transaction). `id_range` (exclusive low, inclusive high; None = no bound) is
    given by full syncs that page in id order: every local contact in that range that the page
    does not list has been deleted in Keap, and is reported in `missing_ids` (the caller deletes
    them once the whole run is done).
    """
    if prepared is None:
        prepared = prepare_page(connection_id=connection_id, records=records)
    result = PageResult(fetched=prepared.fetched)
    for keap_id, reason in prepared.skipped:
        result.skip(keap_id, reason)
    rows = prepared.rows

    stored = Contact.objects.filter(connection_id=connection_id)
    if id_range is not None:
        low, high = id_range
        stored = stored.filter(keap_id__gt=low)
        if high is not None:
            stored = stored.filter(keap_id__lte=high)
    else:
        stored = stored.filter(keap_id__in=list(rows))
    existing = dict(stored.values_list("keap_id", "content_hash"))

    if id_range is not None:
        listed = {record.id for record in records}
        result.missing_ids = sorted(keap_id for keap_id in existing if keap_id not in listed)
    changed = []
    for keap_id, row in rows.items():
        known = existing.get(keap_id)
        if known is None:
            result.created += 1
            changed.append(row)
        elif known != row[_DIGEST_AT]:
            result.updated += 1
            changed.append(row)
    result.unchanged = len(rows) - result.created - result.updated
    if changed:
        _upsert(changed, result, existing)
    return result


def _upsert(rows: list[tuple[Any, ...]], result: PageResult, existing: dict[int, str]) -> None:
    """Bulk upsert; if the database refuses the batch, store row by row and skip the refused."""
    synced_at = _datetime_adapter()(timezone.now())
    try:
        with transaction.atomic():
            _execute(rows, synced_at)
        return
    except (DataError, IntegrityError) as exc:
        log.warning("A page of contacts was refused as a batch (%s); storing one by one", exc)
    for row in rows:
        keap_id = row[1]
        try:
            with transaction.atomic():
                _execute([row], synced_at)
        except (DataError, IntegrityError) as exc:
            # Counted as created or updated above; it was not stored after all.
            if keap_id in existing:
                result.updated -= 1
            else:
                result.created -= 1
            result.skip(keap_id, f"not stored: {type(exc).__name__}: {str(exc)[:120]}")


# How PostgreSQL reads each column from a row of the page's JSON array (by position): JSON
# columns as the JSON value itself, the others as text cast to the column's type.
_PG_JSON = {"email_addresses", "phone_numbers", "tag_ids", "raw"}
_PG_TYPES = {"connection_id": "bigint", "keap_id": "bigint", "keap_updated_at": "timestamptz"}


@lru_cache(maxsize=16)  # a few page lengths: full pages, the last one, one row (the fallback)
def _upsert_sql(vendor: str, rows: int = 1) -> str:
    """INSERT ... ON CONFLICT DO UPDATE, as SQLite (3.24+) and PostgreSQL both speak it.

    Raw SQL, not bulk_create: the ORM's per-value preparation cost more than the database did.
    SQLite takes `rows` rows in one statement (see _execute). PostgreSQL takes the whole page as
    ONE parameter, a JSON array of rows unpacked by jsonb_array_elements (jsonb, parsed once;
    json would be parsed again for every column read): psycopg's executemany
    spent about 40 microseconds a row in Python, more than preparing the row did. The WHERE
    keeps a row whose fingerprint already matches untouched, whatever this page's select saw."""
    quote = connection.ops.quote_name
    table = quote(Contact._meta.db_table)
    updates = ", ".join(f"{quote(c)} = EXCLUDED.{quote(c)}" for c in UPDATE_FIELDS)
    # Identifiers come from the model's metadata, quoted; every value is a parameter.
    columns = ", ".join(quote(c) for c in INSERT_COLUMNS)
    digest = quote("content_hash")
    conflict = (
        f"ON CONFLICT ({quote('connection_id')}, {quote('keap_id')}) DO UPDATE SET {updates} "
        f"WHERE {table}.{digest} <> EXCLUDED.{digest}"
    )
    if vendor == "postgresql":
        values = [
            f"r->{i}"
            if column in _PG_JSON
            else f"(r->>{i})::{_PG_TYPES[column]}"
            if column in _PG_TYPES
            else f"r->>{i}"
            for i, column in enumerate(INSERT_COLUMNS[:-1])
        ]
        return (
            f"INSERT INTO {table} ({columns}) "  # noqa: S608
            f"SELECT {', '.join(values)}, %s::timestamptz FROM jsonb_array_elements(%s::jsonb) AS r "
            f"{conflict}"
        )
    # SQLite's own placeholders there: _execute hands it to sqlite3 directly (see there).
    mark = "?" if vendor == "sqlite" else "%s"
    row = f"({', '.join([mark] * len(INSERT_COLUMNS))})"
    return f"INSERT INTO {table} ({columns}) VALUES {', '.join([row] * rows)} {conflict}"  # noqa: S608


def _page_json(rows: list[tuple[Any, ...]]) -> str:
    """The rows as one JSON array for PostgreSQL. The columns that hold JSON text already (the
    lists and the raw record, valid JSON by construction) are spliced in as JSON values rather
    than quoted as strings, so PostgreSQL parses each of them once, not twice."""
    text = json.encoder.encode_basestring  # a Python string as a JSON string, in C
    joined = ",".join(
        f"[{r[0]},{r[1]},{text(r[2])},{text(r[3])},{text(r[4])},{r[5]},{r[6]},{text(r[7])},"
        f"{r[8]},{'null' if r[9] is None else text(r[9])},{r[10]},{text(r[11])},{text(r[12])}]"
        for r in rows
    )
    return f"[{joined}]"


def _execute(rows: list[tuple[Any, ...]], synced_at: Any) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_upsert_sql("postgresql"), [synced_at, _page_json(rows)])
        elif connection.vendor == "sqlite":
            # As many rows a statement as SQLite takes parameters for (a whole page on any
            # recent SQLite): executemany steps SQLite once a row, each step giving up the GIL
            # and then waiting to win it back from the thread reading the next page, where one
            # long step runs beside that thread.
            # The statement goes to sqlite3's own execute: Django's SQLite cursor rewrites each
            # %s to ? with a regex on every call, about 4 ms for a page's 14,000 placeholders.
            # Errors are still raised as Django's (DataError, IntegrityError: see _upsert).
            per_statement = max(1, _sqlite_max_parameters() // len(INSERT_COLUMNS))
            for start in range(0, len(rows), per_statement):
                batch = rows[start : start + per_statement]
                params = [value for row in batch for value in (*row, synced_at)]
                with connection.wrap_database_errors:
                    sqlite3.Cursor.execute(cursor.cursor, _upsert_sql("sqlite", len(batch)), params)
        else:
            sql = _upsert_sql(connection.vendor)
            cursor.executemany(sql, [(*row, synced_at) for row in rows])


def _sqlite_max_parameters() -> int:
    connection.ensure_connection()
    getlimit = getattr(connection.connection, "getlimit", None)  # Python 3.11+
    if getlimit is None:
        return 999  # SQLite's default limit before 3.32
    return min(int(getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)), 20_000)
