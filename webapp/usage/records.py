"""One call to Keap as usage records it, and its compact form on the Redis buffer."""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Sane ceilings: a record is still written with garbage numbers clamped, never dropped for them.
_MAX_LATENCY_MS = 2_147_483_647
_MAX_SMALL = 32_767


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, kw_only=True, slots=True)
class CallRecord:
    """One call to Keap as the client saw it.

    `lane` takes "interactive"/"bulk" or the limiter's Lane enum. `status` is 0 when no response
    came (timeout, connection error). `throttled`: the limiter made the call wait, or Keap said 429.
    `quota`: the parsed `x-keap-*` numbers (see quota_from_snapshot), may be empty.
    """

    app: str
    tenant: str
    operation: str
    lane: str
    status: int
    latency_ms: int
    connection_id: int | None = None
    throttled: bool = False
    retries: int = 0
    quota: Mapping[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=_now)

    def __post_init__(self) -> None:
        if isinstance(self.lane, enum.Enum):
            # The limiter's Lane is INTERACTIVE="i"/BULK="b"; usage speaks the names.
            object.__setattr__(self, "lane", self.lane.name.lower())
        object.__setattr__(self, "status", min(max(int(self.status), 0), 999))
        object.__setattr__(self, "latency_ms", min(max(int(self.latency_ms), 0), _MAX_LATENCY_MS))
        object.__setattr__(self, "retries", min(max(int(self.retries), 0), _MAX_SMALL))
        if self.at.tzinfo is None:
            raise ValueError("CallRecord.at must be timezone-aware")

    def to_json(self) -> str:
        """The compact line pushed onto the Redis buffer."""
        us = (self.at - _EPOCH) // timedelta(microseconds=1)
        row: dict[str, Any] = {
            "a": self.app,
            "t": self.tenant,
            "c": self.connection_id,
            "o": self.operation,
            "l": self.lane,
            "s": self.status,
            "ms": self.latency_ms,
            "th": int(self.throttled),
            "r": self.retries,
            "at": us,
        }
        if self.quota:
            row["q"] = self.quota
        return json.dumps(row, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: bytes | str) -> CallRecord:
        """Inverse of to_json. Raises ValueError (or KeyError/TypeError) on a malformed line."""
        row = json.loads(raw)
        return cls(
            app=str(row["a"]),
            tenant=str(row["t"]),
            connection_id=int(row["c"]) if row.get("c") is not None else None,
            operation=str(row["o"]),
            lane=str(row["l"]),
            status=row["s"],
            latency_ms=row["ms"],
            throttled=bool(row.get("th")),
            retries=row.get("r", 0),
            quota=row.get("q") or {},
            at=_EPOCH + timedelta(microseconds=int(row["at"])),
        )


def quota_from_snapshot(snapshot: object) -> dict[str, dict[str, int]]:
    """The limiter's parsed QuotaSnapshot as a small JSON-able dict, empty windows and fields dropped.

    E.g. {"app_day": {"limit": 150000, "used": 12, "available": 149988}, "tenant_minute": {...}}.
    """
    if not dataclasses.is_dataclass(snapshot) or isinstance(snapshot, type):
        return {}
    result: dict[str, dict[str, int]] = {}
    for name, window in dataclasses.asdict(snapshot).items():
        if isinstance(window, dict):
            kept = {k: v for k, v in window.items() if v is not None}
            if kept:
                result[name] = kept
    return result
