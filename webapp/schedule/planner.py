"""Planning one developer app's day of Keap calls: what each connection's copy costs, and when.

Keap gives a developer app one budget a day for every customer it serves (the app's
`limit_per_day`, 150,000 by default). Spending it by the clock (every connection polled every
15 minutes, all reconciled at night) costs an idle connection as much as a busy one and caps the
customer base near a thousand. The plan spends it by need instead, in this order:

1. calls a person waits for (goals, connecting): the interactive reserve, never planned away;
2. changes Keap pushed (REST hooks): fetched as they come, so an idle connection costs nothing;
3. upkeep of the hooks themselves: each connection's subscriptions checked daily (every few hours
   while Keap is pushing its changes);
4. polling, only for connections whose hooks are not healthy, as often as what is left allows
   (never more often than every `poll_min_s`);
5. initial syncs of new connections, first come first served;
6. reconcile passes (a full sync that also finds deletions hooks never reported), rotated over the
   customer base, oldest first, spread through the day: a full pass takes as many days as the
   budget needs, never every connection at 03:17.

The plan covers the bulk lane's share of the day, `target_share` of the limit, less the reserve.
It is made afresh every few minutes from what has been spent so far today and what the last hour
says the rest of the day will bring, so a busy morning leaves less for reconciles in the
afternoon, and raising the limit in the admin raises every budget at the next plan.

This module is pure: no database, no clock of its own. webapp.schedule.today feeds it Onramp's
connections and today's spend and starts the work it names; bench/capacity.py feeds it a simulated
customer base over simulated days.
"""

import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

DAY = 86_400.0


class Kind(enum.StrEnum):
    """What a call was spent on."""

    GOALS = "goals"
    CHANGES = "changes"
    UPKEEP = "upkeep"
    POLLING = "polling"
    INITIAL = "initial"
    RECONCILE = "reconcile"


BULK_KINDS = (Kind.CHANGES, Kind.UPKEEP, Kind.POLLING, Kind.INITIAL, Kind.RECONCILE)


@dataclass(frozen=True)
class Policy:
    """The planner's knobs (webapp.settings' SCHEDULE_* and SYNC_* hold the defaults in use)."""

    target_share: float = 0.9  # of the daily limit, the most a plan means to spend
    page_size: int = 1000  # contacts per list call (Keap's maximum)
    ids_per_call: int = 250  # contact ids asked for in one filtered list call
    poll_min_s: float = 900.0  # no connection is polled more often than this
    poll_max_s: float = 6 * 3600.0  # nor less often, whatever the budget (then it is spent)
    polling_share: float = 0.5  # at most this share of what changes and upkeep leave
    reconcile_min_s: float = DAY  # no connection is reconciled twice within this
    lead_s: float = 900.0  # how far ahead of an even pace reconciles may run


@dataclass
class ConnectionState:
    """What the planner knows of one active connection. Times are epoch seconds."""

    id: int
    contacts: int  # Keap's count at the last sync (an estimate until the first one ends)
    hooked: bool  # Keap pushes this connection's changes (its subscriptions are verified)
    synced: bool  # a full sync has completed
    connected_at: float
    polled_at: float | None = None  # the last incremental or full sync that succeeded
    reconciled_at: float | None = None  # the last full sync that succeeded
    check_due_at: float | None = None  # when its hook subscriptions are next to be looked at
    busy: bool = False  # a sync run is queued or working

    def last_copy(self) -> float:
        """When the copy was last brought up to date (when it was connected, if never)."""
        synced = [t for t in (self.polled_at, self.reconciled_at) if t is not None]
        return max(synced) if synced else self.connected_at


@dataclass(frozen=True)
class Work:
    """One piece of work the plan says to start now."""

    kind: Kind
    connection_id: int
    calls: int  # what it is expected to cost


@dataclass
class Plan:
    """The day as planned at `now`: budgets for the whole UTC day (spent + still planned)."""

    now: float
    day_start: float
    limit: int
    target: int
    reserve: int
    spent: dict[Kind, int]
    budget: dict[Kind, int]
    poll_interval_s: float
    hooked: int
    unhooked: int
    reconcile_pass_days: float | None
    initial_queue: list[tuple[int, float]] = field(default_factory=list)  # (id, start estimate)

    @property
    def projected(self) -> int:
        """Calls the day will have used by 24:00 UTC if it goes as planned."""
        return sum(self.budget.values())

    @property
    def spent_total(self) -> int:
        return sum(self.spent.values())


def full_sync_calls(contacts: int, policy: Policy) -> int:
    """A full sync: Keap's count (one v1 call) and every page."""
    return 1 + max(1, math.ceil(max(contacts, 0) / policy.page_size))


def poll_calls(changed: int, policy: Policy) -> int:
    return max(1, math.ceil(max(changed, 0) / policy.page_size))


def change_fetch(pending_ids: int, window_changed: int, policy: Policy) -> tuple[str, int]:
    """How to fetch `pending_ids` changed contacts: by their ids in batches ("ids"), or every
    contact updated since the oldest change ("window", `window_changed` of them), whichever
    costs fewer calls; (how, calls)."""
    if pending_ids <= 0:
        return "ids", 0
    by_ids = math.ceil(pending_ids / policy.ids_per_call)
    by_window = poll_calls(max(window_changed, pending_ids), policy)
    return ("window", by_window) if by_window < by_ids else ("ids", by_ids)


def plan_day(
    *,
    now: float,
    limit: int,
    reserve_share: float,
    connections: Sequence[ConnectionState],
    per_minute: int | None = None,
    spent: Mapping[Kind, int],
    hourly: Mapping[Kind, float],
    policy: Policy,
) -> Plan:
    """The rest of today's budget, by need (see the module docstring).

    `spent`: calls spent today by kind. `hourly`: calls in the last hour by kind, for the demand
    that is not planned (goals, changes), projected over the rest of the day.
    """
    day_start = math.floor(now / DAY) * DAY
    rest = max(day_start + DAY - now, 0.0)
    spent = {kind: int(spent.get(kind, 0)) for kind in Kind}
    target = int(limit * policy.target_share)
    reserve = int(limit * reserve_share)
    hooked = [c for c in connections if c.hooked]
    unhooked = [c for c in connections if not c.hooked and c.synced]
    queue = sorted((c for c in connections if not c.synced), key=lambda c: (c.connected_at, c.id))

    def projected(kind: Kind) -> int:
        return int(hourly.get(kind, 0.0) * rest / 3600.0)

    goals = spent[Kind.GOALS] + projected(Kind.GOALS)
    changes = spent[Kind.CHANGES] + projected(Kind.CHANGES)
    day_end = day_start + DAY
    checks = sum(1 for c in connections if c.check_due_at is not None and c.check_due_at < day_end)
    upkeep = spent[Kind.UPKEEP] + checks
    # The bulk lane's day: the target less the reserve (or what goals take, if more).
    bulk = max(target - max(reserve, goals), 0)
    left = max(bulk - changes - upkeep, 0)
    spent_planned = spent[Kind.POLLING] + spent[Kind.INITIAL] + spent[Kind.RECONCILE]
    free = max(left - spent_planned, 0)  # for the rest of today
    if per_minute is not None:  # and no more than the per-minute limit lets through by midnight
        free = min(free, int(per_minute * (1 - reserve_share) * rest / 60.0))

    polls_wanted = len(unhooked) * rest / policy.poll_min_s
    polling_rest = min(polls_wanted, policy.polling_share * free)
    if unhooked and polling_rest > 0:
        interval = min(
            max(len(unhooked) * rest / polling_rest, policy.poll_min_s), policy.poll_max_s
        )
        polling_rest = len(unhooked) * rest / interval
    else:
        interval = policy.poll_max_s if unhooked else policy.poll_min_s
    polling_rest = math.ceil(polling_rest)
    queue_calls = sum(full_sync_calls(c.contacts, policy) for c in queue)
    initial_rest = min(queue_calls, max(free - polling_rest, 0))
    reconcile_rest = max(free - polling_rest - initial_rest, 0)

    budget = {
        Kind.GOALS: goals,
        Kind.CHANGES: changes,
        Kind.UPKEEP: upkeep,
        Kind.POLLING: spent[Kind.POLLING] + polling_rest,
        Kind.INITIAL: spent[Kind.INITIAL] + initial_rest,
        Kind.RECONCILE: spent[Kind.RECONCILE] + reconcile_rest,
    }
    # Days to reconcile every synced connection once, at today's reconcile budget.
    pass_calls = sum(full_sync_calls(c.contacts, policy) for c in connections if c.synced)
    reconcile_day = budget[Kind.RECONCILE]
    pass_days = pass_calls / reconcile_day if pass_calls and reconcile_day > 0 else None
    plan = Plan(
        now=now,
        day_start=day_start,
        limit=limit,
        target=target,
        reserve=reserve,
        spent=spent,
        budget=budget,
        poll_interval_s=interval,
        hooked=len(hooked),
        unhooked=len(unhooked),
        reconcile_pass_days=pass_days,
    )
    plan.initial_queue = _initial_estimates(plan, queue, initial_rest, policy)
    return plan


def _initial_estimates(
    plan: Plan, queue: Iterable[ConnectionState], today: int, policy: Policy
) -> list[tuple[int, float]]:
    """When each waiting connection's initial sync should start: now while today's initial
    budget covers the ones ahead of it, then as later days' budgets do."""
    per_day = max(plan.budget[Kind.INITIAL] - plan.spent[Kind.INITIAL], 1)
    estimates = []
    ahead = 0
    for state in queue:
        if ahead < today:
            start = plan.now
        else:
            start = plan.day_start + DAY * (1 + (ahead - today) // per_day)
        estimates.append((state.id, start))
        ahead += full_sync_calls(state.contacts, policy)
    return estimates


def due(
    plan: Plan,
    connections: Sequence[ConnectionState],
    *,
    in_flight: Mapping[Kind, int],
    policy: Policy,
) -> list[Work]:
    """The work to start now, in the plan's order. `in_flight`: what work already started but not
    yet finished is expected to spend, by kind (so one budget is not given twice)."""
    now = plan.now
    work: list[Work] = []

    def room(kind: Kind) -> int:
        return plan.budget[kind] - plan.spent[kind] - in_flight.get(kind, 0)

    checks = room(Kind.UPKEEP)
    due_checks = [c for c in connections if c.check_due_at is not None and c.check_due_at <= now]
    for c in sorted(due_checks, key=lambda c: c.check_due_at or 0.0)[: max(checks, 0)]:
        work.append(Work(Kind.UPKEEP, c.id, 1))

    idle = {c.id: c for c in connections if not c.busy}
    polls = room(Kind.POLLING)
    unhooked = sorted(
        (c for c in idle.values() if not c.hooked and c.synced), key=ConnectionState.last_copy
    )
    for c in unhooked:
        if polls <= 0 or now - c.last_copy() < plan.poll_interval_s:
            break
        work.append(Work(Kind.POLLING, c.id, 1))
        polls -= 1

    # First come, first served: while there is room, the next in the queue starts (a large one
    # too, so nobody behind it jumps it).
    initial = room(Kind.INITIAL)
    for connection_id, _ in plan.initial_queue:
        if initial <= 0:
            break
        waiting = idle.get(connection_id)
        if waiting is not None:
            cost = full_sync_calls(waiting.contacts, policy)
            work.append(Work(Kind.INITIAL, waiting.id, cost))
            initial -= cost

    # Reconciles at an even pace through the day (with a little lead), oldest first.
    elapsed = min((now - plan.day_start + policy.lead_s) / DAY, 1.0)
    paced = int(plan.budget[Kind.RECONCILE] * elapsed) - plan.spent[Kind.RECONCILE]
    paced -= in_flight.get(Kind.RECONCILE, 0)
    if paced > 0:
        candidates = sorted(
            (
                c
                for c in idle.values()
                if c.synced
                and (c.reconciled_at is None or now - c.reconciled_at >= policy.reconcile_min_s)
            ),
            key=lambda c: (c.reconciled_at or 0.0, c.id),
        )
        for c in candidates:
            cost = full_sync_calls(c.contacts, policy)
            if cost > paced:
                break
            work.append(Work(Kind.RECONCILE, c.id, cost))
            paced -= cost
    return work
