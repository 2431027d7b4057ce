"""A replay is repeatable: the same seed gives the same run, action for action.

The framework runs in real time beside the virtual clock; the replay waits for it at fixed
points of each step, ticks the master itself and seeds moto's ids and the daemon's jitter. A
policy change can then be judged on one run, not on a spread of them.
"""

from __future__ import annotations

from controlplane.demo.config import DemoConfig
from controlplane.demo.recording import Recording
from controlplane.demo.replay import Replay
from controlplane.demo.workload import synthetic


def _run(config: DemoConfig) -> Recording:
    return Replay(config, synthetic(config.hours, config.seed, config.scale)).run()


def test_the_same_seed_replays_the_same_day() -> None:
    # Two busy morning hours of a small day: scale-ups, cordons, relocations and drains.
    config = DemoConfig(hours=2.0, seed=3, scale=0.5)
    first, second = _run(config), _run(config)
    assert first.actions, "the replay acted"
    assert first.unsettled_steps == second.unsettled_steps == 0
    assert first.actions == second.actions
    assert first.started == second.started
    assert [(s.t, s.pending, s.running, s.instances) for s in first.samples] == [
        (s.t, s.pending, s.running, s.instances) for s in second.samples
    ]
