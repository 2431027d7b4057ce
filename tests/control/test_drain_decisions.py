"""Drain decisions (pure): one step per intent, and never a termination that could hurt work."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from controlplane.aws.replies import ObservedGroup, ObservedInstance
from controlplane.control.drain_decisions import held_instances, quiet, review
from controlplane.mesos.replies import AgentView, TaskView
from controlplane.state import DrainIntent

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def view(
    agent_id: str,
    *,
    active: bool = True,
    drain: str | None = None,
    tasks: int = 0,
    used: float = 0.0,
    attributes: dict[str, str | float] | None = None,
) -> AgentView:
    live = tuple(
        TaskView(f"t{i}", "t", "fw", agent_id, "TASK_RUNNING", {"cpus": 1.0}, {})
        for i in range(tasks)
    )
    return AgentView(
        id=agent_id,
        hostname=agent_id,
        attributes={
            "pool": "batch",
            "zone": "z1",
            "asg": "g1",
            "instance_id": f"i-{agent_id}",
            **(attributes or {}),
        },
        total={"cpus": 4.0},
        used={"cpus": used + tasks},
        offered={},
        active=active,
        drain_state=drain,
        tasks=live,
    )


def intent(agent_id: str, phase: str = "deactivated", age_s: float = 60.0) -> DrainIntent:
    when = NOW - timedelta(seconds=age_s)
    return DrainIntent(
        agent_id=agent_id,
        instance_id=f"i-{agent_id}",
        asg="g1",
        pool="batch",
        zone="z1",
        reason="idle",
        phase=phase,
        created_at=when,
        updated_at=when,
        token=1,
    )


def group(*instances: tuple[str, str]) -> dict[str, ObservedGroup]:
    insts = tuple(ObservedInstance(iid, "z1", state, False, True) for iid, state in instances)
    g = ObservedGroup("g1", "batch", "z1", 0, 10, len(insts), {}, None, ("m5.large",), insts)
    return {"g1": g}


def one(
    i: DrainIntent, v: AgentView | None, groups: dict[str, ObservedGroup], settle: float = 0.0
) -> str:
    agents = {} if v is None else {v.id: v}
    [step] = review({i.agent_id: i}, agents, groups, NOW, settle_s=settle, forget_after_s=900)
    return step.kind


def test_deactivated_and_empty_is_terminated() -> None:
    g = group(("i-a", "InService"))
    assert one(intent("a"), view("a", active=False), g) == "terminate"
    assert one(intent("a", "deactivating"), view("a", active=False), g) == "terminate"
    assert one(intent("a", "deactivating"), view("a", active=False), g, settle=30) == "confirm"
    assert one(intent("a", age_s=10), view("a", active=False), g, settle=30) == "wait"
    assert one(intent("a", age_s=40), view("a", drain="DRAINED"), g, settle=30) == "terminate"


def test_work_arriving_again_reactivates() -> None:
    g = group(("i-a", "InService"))
    assert one(intent("a"), view("a", active=False, tasks=1), g) == "reactivate"
    assert one(intent("a"), view("a", active=False, used=0.5), g) == "reactivate"
    assert one(intent("a", "deactivating"), view("a", tasks=2), g) == "reactivate"
    busy_draining = view("a", active=False, drain="DRAINING", tasks=1)
    assert one(intent("a"), busy_draining, g) == "forget"  # the operator's drain, not ours


def test_a_cordoned_agent_waits_for_its_tasks_then_goes() -> None:
    g = group(("i-a", "InService"))
    cordon = intent("a").model_copy(update={"cordon": True})
    assert one(cordon, view("a", active=False, tasks=2), g) == "wait"  # not given back
    assert one(cordon, view("a", active=False), g) == "terminate"  # empty: it goes
    starting = cordon.model_copy(update={"phase": "deactivating"})
    assert one(starting, view("a", tasks=2), g) == "deactivate"  # not confirmed: again
    assert one(cordon, view("a", tasks=2), g) == "forget"  # lifted by someone else
    marked = view("a", active=False, tasks=1, attributes={"do_not_disrupt": "true"})
    assert one(cordon, marked, g) == "reactivate"


def test_do_not_disrupt_gives_the_agent_back() -> None:
    g = group(("i-a", "InService"))
    marked = view("a", active=False, attributes={"do_not_disrupt": "true"})
    assert one(intent("a"), marked, g) == "reactivate"


def test_unconfirmed_deactivation_is_resent_and_outside_reactivation_respected() -> None:
    g = group(("i-a", "InService"))
    assert one(intent("a", "deactivating"), view("a"), g) == "deactivate"
    assert one(intent("a", "deactivated"), view("a"), g) == "forget"


def test_gone_instances_and_agents() -> None:
    assert one(intent("a"), view("a", active=False), group()) == "mark_terminating"
    leaving = group(("i-a", "Terminating:Wait"))
    assert one(intent("a"), view("a", active=False), leaving) == "mark_terminating"
    assert one(intent("a"), None, group()) == "forget"
    # Mesos lists no agent (a master failover) while the instance lives: keep the record.
    assert one(intent("a"), None, group(("i-a", "InService"))) == "wait"
    assert one(intent("a", "deactivating"), None, group(("i-a", "InService"))) == "wait"
    assert one(intent("a"), None, group(("i-a", "Terminating"))) == "forget"
    assert one(intent("a", "terminating"), view("a", active=False), group()) == "wait"
    assert one(intent("a", "terminating", age_s=901), view("a", active=False), group()) == "forget"
    assert one(intent("a", "terminating"), None, group()) == "forget"


PHASES = st.sampled_from(["deactivating", "deactivated", "terminating"])
STATES = st.sampled_from(["InService", "Pending", "Terminating", "Terminating:Wait", "gone"])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            PHASES,
            st.floats(0, 2000),
            st.booleans(),  # agent registered
            st.booleans(),  # active
            st.sampled_from([None, "DRAINING", "DRAINED"]),
            st.integers(0, 2),  # tasks
            STATES,
            st.booleans(),  # a consolidation cordon
        ),
        max_size=12,
    ),
    st.sampled_from([0.0, 30.0]),
)
def test_never_terminates_what_could_hold_work(cases: list[tuple], settle: float) -> None:  # type: ignore[type-arg]
    intents, agents, insts = {}, {}, []
    for n, (phase, age, registered, active, drain, tasks, state, cordon) in enumerate(cases):
        name = f"a{n}"
        intents[name] = intent(name, phase, age).model_copy(update={"cordon": cordon})
        if registered:
            agents[name] = view(name, active=active, drain=drain, tasks=tasks)
        if state != "gone":
            insts.append((f"i-{name}", state))
    groups = group(*insts)
    steps = review(intents, agents, groups, NOW, settle_s=settle, forget_after_s=900)
    assert sorted(s.intent.agent_id for s in steps) == sorted(intents)
    for s in steps:
        v = agents.get(s.intent.agent_id)
        if s.kind == "terminate":
            assert v is not None and quiet(v)
            assert s.intent.phase != "terminating"
            inst = groups["g1"].instance(s.intent.instance_id or "")
            assert inst is not None and not inst.leaving
            if s.intent.phase == "deactivated":
                assert (NOW - s.intent.updated_at).total_seconds() >= settle
            else:
                assert settle == 0
        if s.kind == "reactivate":
            assert v is not None and not quiet(v)


def test_held_instances_release_only_quiet_or_unknown_agents() -> None:
    waiting = [
        ("g1", ObservedInstance("i-a", "z1", "Terminating:Wait", False, True)),
        ("g1", ObservedInstance("i-b", "z1", "Terminating:Wait", False, True)),
        ("g1", ObservedInstance("i-c", "z1", "Terminating:Wait", False, True)),
        ("g1", ObservedInstance("i-d", "z1", "Terminating:Wait", False, True)),
    ]
    by_instance = {
        "i-a": view("a", tasks=1),
        "i-b": view("b"),
        "i-c": view("c", active=False),
    }
    held = {h.instance_id: h for h in held_instances(waiting, by_instance)}
    assert (held["i-a"].drained, held["i-a"].deactivate) == (False, True)
    assert (held["i-b"].drained, held["i-b"].deactivate) == (False, True)
    assert (held["i-c"].drained, held["i-c"].deactivate) == (True, False)
    assert (held["i-d"].drained, held["i-d"].deactivate) == (True, False)
