"""Scarce resources kept at agent level: an agent that has GPUs its pool does not promise
(a larger type of a mixed-instance group) takes GPU work, and no work that asks for none."""

from __future__ import annotations

from tests.support.builders import CAP, agent, pool, run, targets, task


def _gpu_agent(ident: str) -> dict[str, object]:
    return agent(ident, total={**CAP, "gpus": 1.0}, idle_s=10)


def test_cpu_work_does_not_land_on_an_agent_with_gpus_its_pool_lacks() -> None:
    plain = agent("plain", used={"cpus": 15.0}, jobs={"x": 1})  # room for 1 cpu only
    result = run(
        [pool(desired=(2, 0, 0))],
        agents=[plain, _gpu_agent("gpu")],
        pending=[
            task("cpu-a", cpus=1),
            task("cpu-b", cpus=1),
            task("gpu-t", resources={"cpus": 1, "mem": 1000, "gpus": 1}),
        ],
    )
    placed = targets(result)
    assert placed["gpu-t"] == "gpu"
    assert placed.get("cpu-a", placed.get("cpu-b")) == "plain"
    assert "gpu" not in {placed.get("cpu-a"), placed.get("cpu-b")}


def test_a_sharing_pool_lends_such_an_agent() -> None:
    result = run(
        [pool(desired=(1, 0, 0), shares_scarce=True)],
        agents=[_gpu_agent("gpu")],
        pending=[task("cpu", cpus=1)],
    )
    assert targets(result) == {"cpu": "gpu"}
