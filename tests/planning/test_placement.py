"""Placement onto registered agents: fitness, constraints, tiers, reasons."""

from __future__ import annotations

from tests.support.builders import agent, pool, run, targets, task

ZONES2 = ("us-east-1a", "us-east-1b")


def test_binpack_prefers_the_fullest_agent_that_fits() -> None:
    agents = [
        agent("A-1", used={"cpus": 4, "mem": 4000}, jobs={"x": 1}),
        agent("A-2", used={"cpus": 12, "mem": 40000}, jobs={"x": 1}),
        agent("A-3", used={"cpus": 15.5, "mem": 1000}, jobs={"x": 1}),  # too full for 2 cpus
    ]
    plan = run([pool(desired=(3, 0, 0))], agents, [task("t", cpus=2, mem=2000)])
    assert targets(plan) == {"t": "A-2"}
    assert "binpack fitness" in plan.placements[0].reason


def test_spread_prefers_the_emptiest_agent() -> None:
    agents = [
        agent("A-1", used={"cpus": 4, "mem": 4000}, jobs={"x": 1}),
        agent("A-2", used={"cpus": 12, "mem": 40000}, jobs={"x": 1}),
    ]
    plan = run([pool(desired=(2, 0, 0), fitness="spread")], agents, [task("t")])
    assert targets(plan) == {"t": "A-1"}


def test_cpu_and_mem_binpackers_weigh_one_resource() -> None:
    agents = [
        agent("A-1", used={"cpus": 12, "mem": 1000}, jobs={"x": 1}),
        agent("A-2", used={"cpus": 1, "mem": 60000}, jobs={"x": 1}),
    ]
    cpu = run([pool(desired=(2, 0, 0), fitness="binpack_cpu")], agents, [task("t")])
    mem = run([pool(desired=(2, 0, 0), fitness="binpack_mem")], agents, [task("t")])
    assert targets(cpu) == {"t": "A-1"}
    assert targets(mem) == {"t": "A-2"}


def test_identical_tasks_fill_one_agent_before_the_next() -> None:
    agents = [agent("A-1"), agent("A-2")]
    pending = [task(f"t{i}", cpus=4, mem=1000) for i in range(6)]
    plan = run([pool(desired=(2, 0, 0), max_idle=5)], agents, pending)
    where = targets(plan)
    assert sorted(where.values()) == ["A-1"] * 4 + ["A-2"] * 2


def test_registered_agent_beats_launching_instance() -> None:
    # desired 2, one registered: one launching instance in zone a.
    plan = run([pool(desired=(2, 0, 0))], [agent("A-1")], [task("t")])
    assert targets(plan) == {"t": "A-1"}


def test_draining_agents_get_nothing() -> None:
    agents = [agent("A-1", state="draining"), agent("A-2", used={"cpus": 15}, jobs={"x": 1})]
    plan = run([pool(desired=(2, 0, 0))], agents, [task("t", cpus=4)])
    assert targets(plan)["t"].startswith("batch/")


def test_hard_attribute_pins_and_soft_attribute_prefers() -> None:
    agents = [
        agent("A-1", attributes={"rack": "r1"}, used={"cpus": 8}, jobs={"x": 1}),
        agent("A-2", attributes={"rack": "r2"}),
    ]
    hard = [task("h", constraints=[{"kind": "attribute", "name": "rack", "value": "r2"}])]
    soft = [
        task("s", constraints=[{"kind": "attribute", "name": "rack", "value": "r2", "soft": True}])
    ]
    assert targets(run([pool(desired=(2, 0, 0))], agents, hard)) == {"h": "A-2"}
    plan = run([pool(desired=(2, 0, 0))], agents, soft)
    assert targets(plan) == {"s": "A-2"}
    assert "soft constraints met 1/1" in plan.placements[0].reason


def test_soft_attribute_falls_back_when_unmet() -> None:
    agents = [agent("A-1", attributes={"rack": "r1"})]
    pending = [
        task("s", constraints=[{"kind": "attribute", "name": "rack", "value": "r9", "soft": True}])
    ]
    plan = run([pool(desired=(1, 0, 0))], agents, pending)
    assert targets(plan) == {"s": "A-1"}
    assert "soft constraints met 0/1" in plan.placements[0].reason


def test_zone_and_builtin_attributes_are_constrainable() -> None:
    agents = [agent("A-1", zone="us-east-1a"), agent("A-2", zone="us-east-1b")]
    pending = [
        task("t", constraints=[{"kind": "attribute", "name": "zone", "value": "us-east-1b"}])
    ]
    assert targets(run([pool(desired=(1, 1, 0))], agents, pending)) == {"t": "A-2"}
    host = [task("h", constraints=[{"kind": "attribute", "name": "hostname", "value": "host-A-1"}])]
    assert targets(run([pool(desired=(1, 1, 0))], agents, host)) == {"h": "A-1"}


def test_hostname_pin_to_a_full_host_is_unplaced_not_scaled() -> None:
    agents = [agent("A-1", used={"cpus": 16}, jobs={"x": 1})]
    pending = [
        task("h", constraints=[{"kind": "attribute", "name": "hostname", "value": "host-A-1"}])
    ]
    plan = run([pool(desired=(1, 0, 0))], agents, pending)
    assert plan.scale_up == []
    assert [u.task for u in plan.unplaced] == ["h"]
    assert "new instances lack hostname=host-A-1" in plan.unplaced[0].reason


def test_unique_host_counts_running_and_placed_tasks() -> None:
    agents = [agent("A-1", jobs={"web": 1}, used={"cpus": 1}), agent("A-2"), agent("A-3")]
    pending = [task(f"w{i}", job="web", constraints=[{"kind": "unique_host"}]) for i in range(3)]
    plan = run([pool(desired=(3, 0, 0))], agents, pending)
    where = targets(plan)
    assert where["w0"] in {"A-2", "A-3"} and where["w1"] in {"A-2", "A-3"}
    assert where["w0"] != where["w1"]
    assert where["w2"].startswith("batch/")  # A-1 already runs a web task


def test_exclusive_takes_an_empty_agent_and_keeps_others_off() -> None:
    agents = [agent("A-1", jobs={"x": 1}, used={"cpus": 1}), agent("A-2")]
    pending = [task("db", cpus=2, constraints=[{"kind": "exclusive"}]), task("small", cpus=1)]
    plan = run([pool(desired=(2, 0, 0))], agents, pending)
    assert targets(plan) == {"db": "A-2", "small": "A-1"}


def test_balanced_spreads_a_job_over_zones_counting_running_tasks() -> None:
    agents = [
        agent("A-1", zone="us-east-1a", jobs={"etl": 2}, used={"cpus": 2}),
        agent("A-2", zone="us-east-1b"),
        agent("A-3", zone="us-east-1c"),
    ]
    balanced = [{"kind": "balanced", "attribute": "zone"}]
    pending = [task(f"e{i}", job="etl", constraints=balanced) for i in range(4)]
    plan = run([pool(desired=(1, 1, 1))], agents, pending)
    zone_of = {"A-1": "a", "A-2": "b", "A-3": "c"}
    per_zone = {"a": 2, "b": 0, "c": 0}
    for placement in plan.placements:
        per_zone[zone_of[placement.target]] += 1
    assert per_zone == {"a": 2, "b": 2, "c": 2}


def test_task_pinned_to_a_pool_stays_in_it() -> None:
    pools = [pool("batch", desired=(1, 0, 0)), pool("svc", desired=(1, 0, 0))]
    agents = [
        agent("A-1", pool_name="batch", used={"cpus": 15}, jobs={"x": 1}),
        agent("S-1", pool_name="svc"),
    ]
    plan = run(pools, agents, [task("t", cpus=4, pool="batch")])
    assert targets(plan)["t"].startswith("batch/")


def test_too_big_for_any_instance_is_unplaced_with_the_numbers() -> None:
    plan = run([pool()], [], [task("huge", cpus=96, mem=1000)])
    assert plan.placements == [] and plan.scale_up == []
    assert plan.unplaced[0].reason == "needs 96 cpus; largest pool instance has 16"


def test_named_scalar_must_fit_like_the_others() -> None:
    p = pool(desired=(1, 0, 0))
    p["capacity"] = {"cpus": 16, "mem": 64000, "licences": 2}
    agents = [agent("A-1", total={"cpus": 16, "mem": 64000, "licences": 2})]
    pending = [task(f"l{i}", resources={"cpus": 1, "licences": 1}) for i in range(3)]
    plan = run([p], agents, pending)
    where = targets(plan)
    assert sum(1 for v in where.values() if v == "A-1") == 2
    assert sum(1 for v in where.values() if v.startswith("batch/")) == 1


def test_balanced_counts_tasks_on_draining_agents() -> None:
    agents = [
        agent("A-1", zone="us-east-1a", state="draining", jobs={"etl": 1}, used={"cpus": 1}),
        agent("B-1", zone="us-east-1b"),
        agent("A-2", zone="us-east-1a"),
    ]
    balanced = [{"kind": "balanced", "attribute": "zone"}]
    plan = run(
        [pool(zones=ZONES2, desired=(2, 1))], agents, [task("e", job="etl", constraints=balanced)]
    )
    assert targets(plan) == {"e": "B-1"}


def test_balanced_over_hostnames_can_use_new_instances() -> None:
    agents = [agent("A-1", jobs={"web": 1}, used={"cpus": 1})]
    balanced = [{"kind": "balanced", "attribute": "hostname"}]
    pending = [task(f"w{i}", job="web", constraints=balanced) for i in range(2)]
    plan = run([pool(zones=ZONES2, desired=(1, 0))], agents, pending)
    assert plan.unplaced == []
    assert sorted(targets(plan).values()) == ["batch/us-east-1a#0", "batch/us-east-1b#0"]


def test_unoffered_resource_does_not_dominate_the_order() -> None:
    # "licences" is offered by no pool: the task asking 5 of them is unplaceable, but it
    # must not be ranked as huge ahead of the full-instance task.
    pending = [
        task("lic", cpus=1, resources={"cpus": 1, "licences": 5}),
        task("full", cpus=16, mem=1000, submitted="2026-11-23T11:00:00Z"),
    ]
    plan = run([pool(zones=ZONES2)], [], pending)
    assert [pl.task for pl in plan.placements] == ["full"]
    assert plan.unplaced[0].reason == "needs 5 licences; largest pool instance has 0"


def test_task_needing_an_unoffered_resource_goes_first_to_the_agent_that_has_it() -> None:
    agents = [agent("A-1", total={"cpus": 16, "mem": 64000, "licences": 5})]
    pending = [
        task("big", cpus=16, mem=1000, submitted="2026-11-23T10:00:00Z"),
        task("lic", resources={"cpus": 0.1, "licences": 5}),
    ]
    plan = run([pool(zones=ZONES2, desired=(1, 0))], agents, pending)
    assert targets(plan) == {"lic": "A-1", "big": "batch/us-east-1b#0"}


def test_tasks_asking_nothing_are_placed_without_overflow() -> None:
    agents = [agent(f"A-{i}") for i in range(4)]
    pending = [task(f"z{i}", resources={}) for i in range(5)]
    plan = run([pool(desired=(4, 0, 0), max_idle=4)], agents, pending)
    assert set(targets(plan).values()) == {"A-0"}


def test_host_pin_to_a_draining_agent_says_no_active_agent_has_it() -> None:
    agents = [agent("A-1", state="draining"), agent("A-2")]
    pin = [{"kind": "attribute", "name": "hostname", "value": "host-A-1"}]
    plan = run([pool(desired=(2, 0, 0))], agents, [task("h", constraints=pin)])
    assert "no active agent has hostname=host-A-1" in plan.unplaced[0].reason


def test_agent_using_resources_counts_as_needed() -> None:
    plan = run([pool(desired=(1, 0, 0))], [agent("A-1", used={"cpus": 4})])
    assert plan.summary.agents_needed == 1 == plan.summary.lower_bound
