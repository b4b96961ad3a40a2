"""Can one Keap developer app serve 10,000 connections on its daily budget? Seven simulated days.

Drives Onramp's own scheduling code, webapp.schedule.planner (plan_day, due, change_fetch,
full_sync_calls, with the Policy that webapp.schedule.today builds from the settings), on a
simulated clock, against a customer base and a Keap modelled in this process. Days of 10,000
connections cannot run over HTTP (a week of Keap's budget is a million calls), so Keap is a model
here, built from docs/keap/API.md:
- each connection's contacts (100 to 200,000, median 5,000) change in batches: most connections
  are idle on a given day, some make a few edits, adds and deletes, a few import thousands;
- REST hooks: each change is delivered 30-60 s later in batches of at most 1,000, retried 30-60 s,
  5 min and 30 min after each failure; after the fourth failure the subscription is Inactive and
  nothing more is delivered until Onramp verifies it again (§2.5). Every day 10% of the
  connections have a receiver failure of 1 to 12 hours at a random time;
- calls: a full sync costs Keap's count plus a call per 1,000 contacts, a poll a call per 1,000
  changed, changed contacts by id `ids_per_call` a call (the planner's own cost functions); all
  lanes share 1,500 calls a minute; goals cost one call each, about 5,000 a day.
Onramp's side is modelled as production runs it: every tick (SCHEDULE_TICK_SECONDS, 60 s) the
plan is made and its due work started (`due`); changes Keap delivers start a `changes` run within
two seconds (the start_changes beat), fetched whichever way costs fewer calls (`change_fetch`);
a hook check finds an Inactive subscription and verifies it (failing, and polled, while its
receiver is down); runs take as long as their calls take through the per-minute limit.

After the seven days a quiet drain runs (no new changes or failures) until the copy converges,
and the mismatches are counted: contacts whose latest change never reached the copy.

The same customer base and activity are also costed under today's schedule (every connection
polled every 15 minutes, all reconciled at 03:17), to compare; `baseline_max_connections` is how
many connections that schedule serves within 95% of the budget.

    .venv/bin/python bench/capacity.py [--connections 10000] [--days 7] [--tick 60] [--seed 7]

The last line printed is a JSON object.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import os
import random
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

DAY = 86_400.0
LIMIT_PER_DAY = 150_000
LIMIT_PER_MINUTE = 1_500
RESERVE = 0.10
GOALS_PER_DAY = 5_000
NEW_PER_DAY = 100
FAILING_SHARE = 0.10
ARRIVAL_DELAY = 2.0  # the start_changes beat, every two seconds


@dataclass
class Batch:
    """Contacts changed together in Keap: when, how many; when the copy had them."""

    at: float
    size: int
    hooked: bool  # Onramp thought Keap was pushing this connection's changes when it changed
    applied_at: float | None = None


@dataclass
class Sim:
    """A connection as the model sees it: the planner's state plus Keap's side and the copy's."""

    state: object  # the planner's ConnectionState (its own fields are what the planner reads)
    open_batches: list[Batch] = field(default_factory=list)  # changed in Keap, not yet copied
    pending: list[Batch] = field(default_factory=list)  # delivered, waiting for a changes run
    pending_size: int = 0
    keap_inactive: bool = False  # Keap gave up on the receiver: nothing is delivered
    onramp_failing: bool = False  # Onramp's view: its check found the subscriptions failing
    attempts: int = 0
    down: list[tuple[float, float]] = field(default_factory=list)  # receiver failure windows
    busy_until: float = 0.0
    last_delivery_at: float = -DAY
    watermark: float = 0.0  # everything changed before this is in the copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--tick", type=float, default=None, help="seconds between plans")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings

    from webapp.schedule import planner, today

    policy = today.policy()
    tick = args.tick or float(settings.SCHEDULE_TICK_SECONDS)
    started = time.perf_counter()
    result = Simulation(args, policy, planner, tick).run()
    result["sim_runtime_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result))


def settings_value(name: str) -> object:
    from django.conf import settings

    return getattr(settings, name)


def _contacts(rng: random.Random) -> int:
    # Log-normal around a median of 5,000, clamped to 100..200,000 (about 1% at the top).
    return int(min(200_000, max(100, rng.lognormvariate(math.log(5000), 1.3))))


class Simulation:
    def __init__(self, args: argparse.Namespace, policy: object, planner: object, tick: float):
        self.rng = random.Random(args.seed)
        self.planner = planner
        self.policy = policy
        self.tick = tick
        self.check_s = float(settings_value("HOOKS_CHECK_SECONDS"))
        self.check_active_s = float(settings_value("HOOKS_CHECK_ACTIVE_SECONDS"))
        self.days = args.days
        self.start = 20_000 * DAY  # a UTC midnight
        self.now = self.start
        self.sims: dict[int, Sim] = {}
        self.events: list[tuple[float, int, str, int, object]] = []  # (at, seq, kind, id, data)
        self.seq = 0
        self.spent: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.recent: list[tuple[float, str, int]] = []  # (at, kind, calls) of the last hour
        self.minute_used: dict[int, int] = defaultdict(int)
        self.initial_waits: list[float] = []
        self.applied: list[tuple[float, int, bool]] = []  # (delay, size, hooked when changed)
        self.pass_days: list[float] = []
        self.active = True
        initial = args.connections - NEW_PER_DAY * args.days
        for i in range(initial):
            self._add(i + 1, synced=True)
        self.next_id = initial + 1

    # --- the customer base -------------------------------------------------------------------

    def _add(self, connection_id: int, *, synced: bool) -> Sim:
        p = self.planner
        at = self.now if not synced else self.start - self.rng.uniform(1, 30) * DAY
        state = p.ConnectionState(
            id=connection_id,
            contacts=_contacts(self.rng),
            hooked=True,
            synced=synced,
            connected_at=at,
            polled_at=at if synced else None,
            # Spread over the last month, as a rotation already under way would leave them.
            reconciled_at=self.start - self.rng.uniform(0, 10) * DAY if synced else None,
            check_due_at=self.start + self.rng.uniform(0, DAY) if synced else self.now + DAY,
        )
        sim = Sim(state=state, watermark=at if synced else 0.0)
        self.sims[connection_id] = sim
        return sim

    def _schedule(self, at: float, kind: str, connection_id: int, data: object = None) -> None:
        self.seq += 1
        heapq.heappush(self.events, (at, self.seq, kind, connection_id, data))

    def _plan_activity(self, day_start: float) -> None:
        """One day's changes, receiver failures and new connections."""
        rng = self.rng
        ids = list(self.sims)
        for cid in ids:
            roll = rng.random()
            if roll < 0.01:  # a very busy one: an import
                self._schedule(
                    day_start + rng.uniform(0, DAY), "change", cid, rng.randint(1000, 20000)
                )
            elif roll < 0.16:  # an ordinary active one: a few changes through the day
                for _ in range(max(1, int(rng.expovariate(1 / 12)))):
                    self._schedule(day_start + rng.uniform(0, DAY), "change", cid, 1)
        for cid in rng.sample(ids, int(len(ids) * FAILING_SHARE)):
            begin = day_start + rng.uniform(0, DAY)
            self.sims[cid].down.append((begin, begin + rng.uniform(3600, 12 * 3600)))
        for _ in range(NEW_PER_DAY):
            self._schedule(day_start + rng.uniform(0, DAY), "connect", 0)
        for _ in range(GOALS_PER_DAY):
            self._schedule(day_start + rng.uniform(0, DAY), "goal", 0)

    # --- Keap ----------------------------------------------------------------------------------

    def _down(self, sim: Sim, at: float) -> bool:
        return any(begin <= at < end for begin, end in sim.down)

    def _change(self, sim: Sim, size: int) -> None:
        batch = Batch(at=self.now, size=size, hooked=sim.state.hooked)
        sim.open_batches.append(batch)
        if sim.keap_inactive:
            return  # Keap delivers nothing until Onramp verifies the subscriptions again
        attempt = self.now + self.rng.uniform(30, 60)
        gaps = (self.rng.uniform(30, 60), 300.0, 1800.0)
        for gap in (*gaps, None):
            if not self._down(sim, attempt):
                self._schedule(attempt, "delivered", sim.state.id, batch)
                return
            if gap is None:
                self._schedule(attempt, "inactive", sim.state.id)
                return
            attempt += gap

    # --- calls -----------------------------------------------------------------------------------

    def _spend(self, kind: str, calls: int, at: float) -> float:
        """Charge `calls` from `at` through the per-minute limit; when the last one goes out."""
        day = int((at - self.start) // DAY)
        self.spent[day][kind] += calls
        self.recent.append((at, kind, calls))
        minute = int(at // 60)
        left = calls
        while True:
            room = LIMIT_PER_MINUTE - self.minute_used[minute]
            take = min(room, left)
            self.minute_used[minute] += take
            left -= take
            if left <= 0:
                return max(at, minute * 60.0) + 60.0 * take / LIMIT_PER_MINUTE
            minute += 1

    # --- Onramp ---------------------------------------------------------------------------------

    def _copy_up_to(self, sim: Sim, moment: float, done: float) -> None:
        """A sync that read Keap at `moment` (ending at `done`) copied every batch before it."""
        keep = []
        for batch in sim.open_batches:
            if batch.at <= moment:
                batch.applied_at = done
                self.applied.append((done - batch.at, batch.size, batch.hooked))
            else:
                keep.append(batch)
        sim.open_batches = keep
        sim.pending = [b for b in sim.pending if b.applied_at is None]
        sim.pending_size = sum(b.size for b in sim.pending)

    def _full_sync(self, sim: Sim, kind: str) -> None:
        calls = self.planner.full_sync_calls(sim.state.contacts, self.policy)
        done = self._spend(kind, calls, self.now)
        sim.busy_until = done
        sim.state.busy = True
        self._schedule(done, "full_done", sim.state.id, (kind, self.now))

    def _poll(self, sim: Sim) -> None:
        changed = sum(b.size for b in sim.open_batches if b.at >= sim.watermark)
        done = self._spend("polling", self.planner.poll_calls(changed, self.policy), self.now)
        sim.busy_until = done
        sim.state.busy = True
        self._schedule(done, "poll_done", sim.state.id, self.now)

    def _apply_changes(self, sim: Sim) -> None:
        ids = sim.pending_size
        window = sum(b.size for b in sim.open_batches if b.at >= min(b.at for b in sim.pending))
        _how, calls = self.planner.change_fetch(ids, window, self.policy)
        done = self._spend("changes", calls, self.now)
        sim.busy_until = done
        sim.state.busy = True
        self._schedule(done, "changes_done", sim.state.id, list(sim.pending))

    def _check(self, sim: Sim) -> None:
        self._spend("upkeep", 1, self.now)
        state = sim.state
        if sim.keap_inactive:
            self._spend("upkeep", 3, self.now)  # verify each subscription again
            if self._down(sim, self.now):
                sim.onramp_failing = True
                sim.attempts += 1
                delay = min(300.0 * 2 ** (sim.attempts - 1), 6 * 3600.0)
                state.hooked = False
                state.check_due_at = self.now + delay
                return
            # Verified again: one incremental sync picks up what Keap could not push.
            sim.keap_inactive = sim.onramp_failing = False
            sim.attempts = 0
            state.hooked = True
            if not state.busy:
                self._poll(sim)
        active = self.now - sim.last_delivery_at < DAY  # as subscriptions.check_interval decides
        state.check_due_at = self.now + (self.check_active_s if active else self.check_s)

    # --- the clock -----------------------------------------------------------------------------

    def run(self) -> dict:
        end = self.start + self.days * DAY
        next_tick = self.start
        for day in range(self.days):
            self._plan_activity(self.start + day * DAY)
        drain_until = end + 3 * DAY
        drained_at = None
        mismatched_at_end = None
        while self.now < drain_until:
            at = min(next_tick, self.events[0][0]) if self.events else next_tick
            self.now = at
            if self.active and self.now >= end:
                self.active = False
                mismatched_at_end = self._mismatched()
                for sim in self.sims.values():
                    sim.down = []
            if not self.active and drained_at is None and self._mismatched() == 0:
                drained_at = self.now
                break
            if at == next_tick:
                self._plan_tick()
                next_tick += self.tick
                continue
            _, _, kind, cid, data = heapq.heappop(self.events)
            self._event(kind, cid, data)
        result = self._report(end)
        result["contacts_mismatched_at_day_end"] = mismatched_at_end
        result["contacts_mismatched"] = self._mismatched()
        result["drain_s"] = round((drained_at or self.now) - end, 1)
        return result

    def _event(self, kind: str, cid: int, data: object) -> None:
        if kind == "change" and self.active:
            sim = self.sims[cid]
            if data and data > 1 and self.rng.random() < 0.1:
                data = -data  # a bulk delete
            self._change(sim, abs(int(data)))
        elif kind == "delivered":
            sim = self.sims[cid]
            sim.last_delivery_at = self.now
            if data.applied_at is None and data not in sim.pending:
                sim.pending.append(data)
                sim.pending_size += data.size
                self._schedule(self.now + ARRIVAL_DELAY, "start_changes", cid)
        elif kind == "start_changes":
            sim = self.sims[cid]
            if sim.pending and not sim.state.busy and sim.state.synced:
                self._apply_changes(sim)
        elif kind == "inactive":
            self.sims[cid].keap_inactive = True
        elif kind == "connect":
            if self.active:
                self._add(self.next_id, synced=False)
                self.next_id += 1
        elif kind == "goal":
            self._spend("goals", 1, self.now)
        elif kind in ("full_done", "poll_done", "changes_done"):
            self._finish(self.sims[cid], kind, data)

    def _finish(self, sim: Sim, kind: str, data: object) -> None:
        state = sim.state
        state.busy = False
        if kind == "full_done":
            what, read_at = data
            if what == "initial":
                self.initial_waits.append(read_at - state.connected_at)
                state.synced = True
            self._copy_up_to(sim, read_at, self.now)
            state.reconciled_at = state.polled_at = self.now
            sim.watermark = read_at
        elif kind == "poll_done":
            self._copy_up_to(sim, data, self.now)
            state.polled_at = self.now
            sim.watermark = data
        else:
            for batch in data:
                if batch.applied_at is None:
                    batch.applied_at = self.now
                    self.applied.append((self.now - batch.at, batch.size, batch.hooked))
                    if batch in sim.open_batches:
                        sim.open_batches.remove(batch)
            sim.pending = [b for b in sim.pending if b.applied_at is None]
            sim.pending_size = sum(b.size for b in sim.pending)
        if sim.pending:
            self._schedule(self.now + ARRIVAL_DELAY, "start_changes", state.id)

    def _plan_tick(self) -> None:
        p = self.planner
        day = int((self.now - self.start) // DAY)
        hour_ago = self.now - 3600
        self.recent = [r for r in self.recent if r[0] >= hour_ago]
        hourly: dict = defaultdict(float)
        for _, kind, calls in self.recent:
            hourly[p.Kind(kind)] += calls
        states = [sim.state for sim in self.sims.values()]
        spent = {p.Kind(k): v for k, v in self.spent[day].items()}
        plan = p.plan_day(
            now=self.now, limit=LIMIT_PER_DAY, reserve_share=RESERVE, connections=states,
            spent=spent, hourly=hourly, policy=self.policy, per_minute=LIMIT_PER_MINUTE,
        )  # fmt: skip
        if self.now % DAY < self.tick:
            self.pass_days.append(plan.reconcile_pass_days or 0.0)
        in_flight: dict = defaultdict(int)
        for work in p.due(plan, states, in_flight=in_flight, policy=self.policy):
            sim = self.sims[work.connection_id]
            if work.kind is p.Kind.UPKEEP:
                self._check(sim)
            elif sim.state.busy:
                continue
            elif work.kind is p.Kind.POLLING:
                self._poll(sim)
            else:
                self._full_sync(sim, work.kind.value)

    # --- results --------------------------------------------------------------------------------

    def _mismatched(self) -> int:
        return sum(
            b.size for sim in self.sims.values() for b in sim.open_batches if sim.state.synced
        )

    def _report(self, end: float) -> dict:
        days = [self.spent[d] for d in range(self.days)]
        totals = [sum(d.values()) for d in days]
        bulk = [sum(v for k, v in d.items() if k != "goals") for d in days]
        hooked = [(delay, size) for delay, size, was_hooked in self.applied if was_hooked]
        everyone = [(delay, size) for delay, size, _ in self.applied]
        waits = sorted(self.initial_waits)
        connections = len(self.sims)
        baseline = self._baseline()
        return {
            "connections": connections,
            "days": self.days,
            "tick_s": self.tick,
            "limit_per_day": LIMIT_PER_DAY,
            "budget_used_max_day": round(max(totals) / LIMIT_PER_DAY, 4),
            "budget_used_by_day": [round(t / LIMIT_PER_DAY, 4) for t in totals],
            "interactive_reserve_kept": all(b <= LIMIT_PER_DAY * (1 - RESERVE) for b in bulk),
            "calls_by_kind_per_day": {
                kind: round(sum(d.get(kind, 0) for d in days) / self.days)
                for kind in ("goals", "changes", "upkeep", "polling", "initial", "reconcile")
            },
            "change_to_copy_p50_s": _weighted(hooked, 0.50),
            "change_to_copy_p95_s": _weighted(hooked, 0.95),
            "change_to_copy_p95_all_s": _weighted(everyone, 0.95),
            "changes": sum(size for _, size in everyone),
            "reconcile_pass_days": round(statistics.mean(self.pass_days[1:] or self.pass_days), 2),
            "initial_syncs": len(waits),
            "initial_sync_wait_p95_s": round(waits[int(0.95 * (len(waits) - 1))], 1)
            if waits
            else None,
            "baseline": baseline,
            "baseline_max_connections": baseline["max_connections"],
        }

    def _baseline(self) -> dict:
        """The same customer base under today's schedule: every connection polled every 15
        minutes (96 times a day, a call per 1,000 changed), all reconciled every night."""
        p, policy = self.planner, self.policy
        per_connection = []
        for sim in self.sims.values():
            polls = 96
            full = p.full_sync_calls(sim.state.contacts, policy)
            per_connection.append(polls + full)
        changes_pages = sum(size for _, size, _ in self.applied) // self.days // 1000
        per_day = sum(per_connection) + changes_pages + GOALS_PER_DAY
        mean_cost = statistics.mean(per_connection)
        return {
            "calls_per_day": per_day,
            "budget_used_max_day": round(per_day / LIMIT_PER_DAY, 4),
            "interactive_reserve_kept": per_day - GOALS_PER_DAY <= LIMIT_PER_DAY * (1 - RESERVE),
            "change_to_copy_p95_s": round(0.95 * 900 + 5, 1),  # a poll every 15 min, if it fit
            "reconcile_pass_days": 1.0,
            "max_connections": int((0.95 * LIMIT_PER_DAY - GOALS_PER_DAY) // mean_cost),
        }


def _weighted(samples: list[tuple[float, int]], q: float) -> float | None:
    """The q-quantile of delays, each counted as many times as contacts it moved."""
    if not samples:
        return None
    samples = sorted(samples)
    total = sum(size for _, size in samples)
    seen = 0
    for delay, size in samples:
        seen += size
        if seen >= q * total:
            return round(delay, 1)
    return round(samples[-1][0], 1)


if __name__ == "__main__":
    main()
