"""The master core's accounting under random operation sequences (no HTTP, virtual clock):
it never offers allocated resources, and offered + allocated never exceeds an agent's total."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from controlplane.sim.clock import VirtualClock
from controlplane.sim.mesos_master import CallError, MasterCore
from controlplane.sim.mesos_master import scheduler_calls as calls

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("launch"), st.integers(0, 10), st.floats(0.1, 5), st.integers(0, 3)),
        st.tuples(st.just("decline"), st.integers(0, 10), st.floats(0, 20)),
        st.tuples(st.just("kill"), st.integers(0, 30)),
        st.tuples(st.just("advance"), st.floats(0, 30)),
        st.tuples(st.just("drain"), st.integers(0, 3), st.floats(0, 10)),
        st.tuples(st.just("deactivate"), st.integers(0, 3)),
        st.tuples(st.just("reactivate"), st.integers(0, 3)),
        st.tuples(st.just("revive")),
        st.tuples(st.just("add_agent")),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(ops=OPS)
def test_offers_never_exceed_free_resources(ops: list[tuple[Any, ...]]) -> None:
    clock = VirtualClock()
    core = MasterCore(clock, allocation_interval_s=1.0)
    agents = [core.add_agent(resources={"cpus": 4.0, "mem": 4096.0}) for _ in range(3)]
    fw, stream = core.subscribe({"user": "u", "name": "n", "failover_timeout": 60}, None)
    sid = stream.stream_id
    fid = {"value": fw.id}
    launched = 0
    core.tick()
    for op in ops:
        offers = sorted(core.offers)
        try:
            if op[0] == "launch" and offers:
                offer = core.offers[offers[op[1] % len(offers)]]
                tasks = []
                for _ in range(op[3]):
                    launched += 1
                    tasks.append(_task(f"t{launched}", offer.agent_id, op[2], op[2] * 100))
                accept = {
                    "offer_ids": [{"value": offer.id}],
                    "operations": [{"type": "LAUNCH", "launch": {"task_infos": tasks}}],
                }
                calls.handle(core, {"type": "ACCEPT", "framework_id": fid, "accept": accept}, sid)
            elif op[0] == "decline" and offers:
                decline = {
                    "offer_ids": [{"value": offers[op[1] % len(offers)]}],
                    "filters": {"refuse_seconds": op[2]},
                }
                calls.handle(
                    core, {"type": "DECLINE", "framework_id": fid, "decline": decline}, sid
                )
            elif op[0] == "kill":
                kill = {"task_id": {"value": f"t{op[1]}"}}
                calls.handle(core, {"type": "KILL", "framework_id": fid, "kill": kill}, sid)
            elif op[0] == "advance":
                clock.advance(op[1])
            elif op[0] == "drain" and agents[op[1] % len(agents)] in core.agents:
                core.drain_agent(agents[op[1] % len(agents)], op[2], False)
            elif (
                op[0] in {"deactivate", "reactivate"} and agents[op[1] % len(agents)] in core.agents
            ):
                core.set_active(agents[op[1] % len(agents)], op[0] == "reactivate")
            elif op[0] == "revive":
                calls.handle(core, {"type": "REVIVE", "framework_id": fid}, sid)
            elif op[0] == "add_agent":
                agents.append(core.add_agent(resources={"cpus": 2.0, "mem": 1024.0}))
        except CallError as err:
            assert err.status == 400 and "draining" in err.message  # reactivate while draining
        core.tick()
        assert core.invariant_violations() == []
        for offer in core.offers.values():
            agent = core.agents[offer.agent_id]
            assert agent.active and agent.drain_state is None


def _task(task_id: str, agent_id: str, cpus: float, mem: float) -> dict[str, Any]:
    return {
        "name": task_id,
        "task_id": {"value": task_id},
        "agent_id": {"value": agent_id},
        "command": {"value": "true"},
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}},
        ],
        "labels": {"labels": [{"key": "duration_s", "value": str(cpus * 3)}]},
    }
