"""The day's plan: the budget spent by need, in order, and the work it starts (pure: no database)."""

import math

import pytest

from webapp.schedule.planner import (
    DAY,
    ConnectionState,
    Kind,
    Policy,
    change_fetch,
    due,
    full_sync_calls,
    plan_day,
)

POLICY = Policy()
NOON = 20_000 * DAY + DAY / 2  # a UTC day's noon, as epoch seconds
START = NOON - DAY / 2


def _connections(n, *, hooked=True, synced=True, contacts=5000, first_id=1, **values):
    return [
        ConnectionState(
            id=first_id + i,
            contacts=contacts,
            hooked=hooked,
            synced=synced,
            connected_at=START - 30 * DAY,
            polled_at=START - DAY if synced else None,
            reconciled_at=START - 10 * DAY + i if synced else None,
            **values,
        )
        for i in range(n)
    ]


def _plan(connections, *, now=NOON, limit=150_000, spent=None, hourly=None, reserve=0.1):
    return plan_day(
        now=now,
        limit=limit,
        reserve_share=reserve,
        connections=connections,
        spent=spent or {},
        hourly=hourly or {},
        policy=POLICY,
    )


def test_a_full_sync_costs_keaps_count_and_every_page():
    assert full_sync_calls(0, POLICY) == 2
    assert full_sync_calls(1000, POLICY) == 2
    assert full_sync_calls(1001, POLICY) == 3
    assert full_sync_calls(200_000, POLICY) == 201


@pytest.mark.parametrize(
    ("pending", "window", "expected"),
    [
        (0, 0, ("ids", 0)),
        (3, 3, ("ids", 1)),  # equal cost: by id, which is exact
        (250, 250, ("ids", 1)),
        (251, 251, ("window", 1)),  # two id batches, or one page of everything changed
        (5000, 5000, ("window", 5)),  # an import: a window of 5 pages beats 20 id batches
        (600, 40_000, ("ids", 3)),  # a busy window costs more than the ids
    ],
)
def test_changed_contacts_are_fetched_whichever_way_costs_fewer_calls(pending, window, expected):
    assert change_fetch(pending, window, POLICY) == expected


def test_the_plan_keeps_the_interactive_reserve_and_headroom():
    plan = _plan(_connections(10_000))

    assert plan.target == 135_000 and plan.reserve == 15_000
    bulk = sum(plan.budget[k] for k in Kind if k is not Kind.GOALS)
    assert bulk <= plan.target - plan.reserve
    assert plan.projected <= plan.target


def test_connections_with_healthy_hooks_are_never_polled():
    plan = _plan(_connections(100))

    assert plan.unhooked == 0 and plan.budget[Kind.POLLING] == 0
    assert not [w for w in due(plan, _connections(100), in_flight={}, policy=POLICY)
                if w.kind is Kind.POLLING]  # fmt: skip


def test_polling_stretches_to_what_the_budget_allows_and_says_so():
    few = _plan(_connections(10, hooked=False))
    many = _plan(_connections(20_000, hooked=False))

    assert few.poll_interval_s == POLICY.poll_min_s
    assert many.poll_interval_s > POLICY.poll_min_s
    assert many.poll_interval_s <= POLICY.poll_max_s
    assert many.projected <= many.target


def test_changes_pushed_by_keap_come_before_polling_initial_syncs_and_reconciles():
    connections = _connections(1000) + _connections(1000, hooked=False, first_id=5000)
    quiet = _plan(connections)
    busy = _plan(connections, hourly={Kind.CHANGES: 4000})  # 48,000 more calls of changes today

    assert busy.budget[Kind.CHANGES] == 48_000
    assert busy.budget[Kind.RECONCILE] < quiet.budget[Kind.RECONCILE]
    assert busy.poll_interval_s >= quiet.poll_interval_s


def test_a_reconcile_pass_takes_as_many_days_as_the_budget_needs():
    small = _plan(_connections(100, contacts=5000))
    big = _plan(_connections(10_000, contacts=20_000))

    assert small.reconcile_pass_days is not None and small.reconcile_pass_days < 1
    assert big.reconcile_pass_days is not None and big.reconcile_pass_days > 1


def test_reconciles_are_spread_through_the_day_oldest_first_never_all_at_once():
    connections = _connections(10_000, contacts=20_000)
    morning = _plan(connections, now=START + 3600)
    work = due(morning, connections, in_flight={}, policy=POLICY)
    reconciles = [w for w in work if w.kind is Kind.RECONCILE]

    assert reconciles, "some reconcile is due an hour into the day"
    started = sum(w.calls for w in reconciles)
    assert started <= morning.budget[Kind.RECONCILE] * (3600 + POLICY.lead_s) / DAY + 21
    oldest = sorted(connections, key=lambda c: c.reconciled_at)[: len(reconciles)]
    assert [w.connection_id for w in reconciles] == [c.id for c in oldest]


def test_no_connection_is_reconciled_twice_within_a_day():
    connections = _connections(3, contacts=100)
    for c in connections:
        c.reconciled_at = NOON - 3600

    work = due(_plan(connections), connections, in_flight={}, policy=POLICY)

    assert not [w for w in work if w.kind is Kind.RECONCILE]


def test_initial_syncs_start_first_come_first_served_while_there_is_room():
    waiting = _connections(3, synced=False, contacts=10_000)
    waiting[0].connected_at, waiting[1].connected_at, waiting[2].connected_at = 30, 10, 20

    plan = _plan(waiting)
    work = [w for w in due(plan, waiting, in_flight={}, policy=POLICY) if w.kind is Kind.INITIAL]

    assert [w.connection_id for w in work] == [2, 3, 1]
    assert [start for _, start in plan.initial_queue] == [NOON, NOON, NOON]


def test_initial_syncs_beyond_todays_budget_wait_for_a_later_day_with_an_estimate():
    spent = {Kind.RECONCILE: 7000}  # of the day's 8,000 bulk calls
    waiting = _connections(40, synced=False, contacts=200_000)  # 201 calls each, 8,040 in all
    plan = _plan(waiting, limit=10_000, spent=spent, now=START + DAY - 600)

    starts = [start for _, start in plan.initial_queue]
    assert starts[0] == plan.now
    assert starts == sorted(starts)
    assert starts[-1] >= START + DAY  # the last ones tomorrow or later
    started = [w for w in due(plan, waiting, in_flight={}, policy=POLICY) if w.kind is Kind.INITIAL]
    assert (
        1 <= len(started) <= 5
    )  # what fits in the 1,000 calls left today (the last one may go over)
    busy = [w for w in due(plan, waiting, in_flight={Kind.INITIAL: 1000}, policy=POLICY)
            if w.kind is Kind.INITIAL]  # fmt: skip
    assert busy == []  # what is already running has used today's room


def test_no_more_is_planned_than_the_per_minute_limit_lets_through_by_midnight():
    connections = _connections(10_000, contacts=20_000)
    late = plan_day(
        now=START + DAY - 600, limit=150_000, reserve_share=0.1, connections=connections,
        spent={}, hourly={}, policy=POLICY, per_minute=1500,
    )  # fmt: skip

    assert late.budget[Kind.RECONCILE] <= 1500 * 0.9 * 10


def test_raising_the_limit_in_the_admin_raises_every_budget_at_the_next_plan():
    connections = _connections(5000, contacts=20_000) + _connections(
        500, hooked=False, first_id=9000
    )
    low = _plan(connections, limit=150_000)
    high = _plan(connections, limit=300_000)

    assert high.budget[Kind.RECONCILE] > low.budget[Kind.RECONCILE]
    assert high.poll_interval_s <= low.poll_interval_s
    assert high.reconcile_pass_days < low.reconcile_pass_days


def test_what_was_spent_this_morning_is_counted_against_the_afternoon():
    connections = _connections(2000, contacts=20_000)
    fresh = _plan(connections)
    spent = _plan(connections, spent={Kind.RECONCILE: 60_000, Kind.GOALS: 5_000})

    assert spent.spent_total == 65_000
    assert spent.budget[Kind.RECONCILE] - 60_000 < fresh.budget[Kind.RECONCILE]
    assert spent.projected <= spent.target


def test_goals_beyond_the_reserve_come_out_of_the_bulk_budget():
    connections = _connections(2000, contacts=20_000)
    plan = _plan(connections, hourly={Kind.GOALS: 2000})  # 24,000 goal calls to come today

    bulk = sum(plan.budget[k] for k in Kind if k is not Kind.GOALS)
    assert bulk <= plan.target - plan.budget[Kind.GOALS]


def test_hook_checks_are_due_when_their_time_comes_and_within_the_upkeep_budget():
    connections = _connections(10)
    for i, c in enumerate(connections):
        c.check_due_at = NOON - 60 if i < 4 else NOON + 3600

    plan = _plan(connections)
    checks = [w for w in due(plan, connections, in_flight={}, policy=POLICY)
              if w.kind is Kind.UPKEEP]  # fmt: skip

    assert plan.budget[Kind.UPKEEP] == 10  # every check due before midnight
    assert sorted(w.connection_id for w in checks) == [1, 2, 3, 4]


def test_busy_connections_are_left_alone():
    connections = _connections(5, hooked=False, contacts=100, busy=True)

    work = due(_plan(connections), connections, in_flight={}, policy=POLICY)

    assert [w for w in work if w.kind is not Kind.UPKEEP] == []


def test_polls_go_to_the_connection_whose_copy_is_oldest():
    connections = _connections(3, hooked=False, contacts=100)
    connections[0].polled_at = NOON - 1000
    connections[1].polled_at = NOON - 5000
    connections[2].polled_at = NOON - 100  # polled just now: not due

    work = due(_plan(connections), connections, in_flight={}, policy=POLICY)

    assert [w.connection_id for w in work if w.kind is Kind.POLLING] == [2, 1]


def test_an_empty_customer_base_plans_nothing_but_the_reserve():
    plan = _plan([])

    assert plan.reconcile_pass_days is None
    assert due(plan, [], in_flight={}, policy=POLICY) == []
    assert math.isclose(plan.poll_interval_s, POLICY.poll_min_s)
