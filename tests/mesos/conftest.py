"""Fixtures for tests against the Mesos master emulator over loopback HTTP.

pymesos calls `_thread.interrupt_main()` when its IO thread dies (an exception in a
callback, a refused call), which would kill pytest with a KeyboardInterrupt; the autouse
`driver_aborts` fixture records those aborts instead, and tests assert on that record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pymesos.process
import pytest
from pymesos import MesosSchedulerDriver

from controlplane.demand.queue import TaskQueue
from controlplane.mesos.framework import MesosFramework
from controlplane.mesos.id_store import FrameworkIdStore, MemoryIdStore
from controlplane.sim.clock import VirtualClock
from controlplane.sim.mesos_master import MasterCore, MesosMasterEmulator
from tests.support.mesos_calls import Recorder

ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")


@pytest.fixture(autouse=True)
def driver_aborts(monkeypatch: pytest.MonkeyPatch) -> list[BaseException]:
    """Every pymesos IO-thread abort, instead of a KeyboardInterrupt in the test."""
    aborts: list[BaseException] = []

    class _NoInterrupt:
        @staticmethod
        def interrupt_main(*_: Any) -> None:
            info = pymesos.process._exc_info
            pymesos.process._exc_info = None
            aborts.append(info[1] if info else RuntimeError("pymesos IO thread aborted"))

    monkeypatch.setattr(pymesos.process, "thread", _NoInterrupt)
    return aborts


def add_agents(core: MasterCore, n: int = 3, cpus: float = 4.0, mem: float = 8192.0) -> list[str]:
    return [
        core.add_agent(
            hostname=f"host-{i}",
            resources={"cpus": cpus, "mem": mem, "disk": 10000.0},
            attributes={
                "zone": ZONES[i % 3],
                "pool": "batch",
                "instance_id": f"i-{i:04x}",
                "asg": f"batch-{ZONES[i % 3][-1]}",
            },
        )
        for i in range(n)
    ]


@pytest.fixture
def emulator() -> Iterator[MesosMasterEmulator]:
    """A leader on real time, three 4-cpu agents over three zones."""
    core = MasterCore(allocation_interval_s=0.2)
    add_agents(core)
    with MesosMasterEmulator(core) as emu:
        yield emu


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def virtual_emulator(clock: VirtualClock) -> Iterator[MesosMasterEmulator]:
    """As `emulator`, but time moves only when the test advances `clock`."""
    core = MasterCore(clock, allocation_interval_s=1.0)
    add_agents(core)
    with MesosMasterEmulator(core) as emu:
        yield emu


DriverFactory = Callable[..., tuple[MesosSchedulerDriver, Recorder]]


@pytest.fixture
def drivers() -> Iterator[DriverFactory]:
    """Start raw pymesos drivers with a recording scheduler; all stopped at the end."""
    started: list[MesosSchedulerDriver] = []

    def start(
        master: str,
        recorder: Recorder | None = None,
        framework_id: str | None = None,
        **info: Any,
    ) -> tuple[MesosSchedulerDriver, Recorder]:
        rec = recorder or Recorder()
        framework: dict[str, Any] = {"user": "test", "name": "raw", "failover_timeout": 60.0}
        framework.update(info)
        if framework_id:
            framework["id"] = {"value": framework_id}
        driver = MesosSchedulerDriver(rec, framework, master, use_addict=True)
        driver.start()
        started.append(driver)
        return driver, rec

    yield start
    for driver in started:
        driver.stop(failover=True)
    for driver in started:
        driver.join()


Factory = Callable[..., MesosFramework]


@pytest.fixture
def frameworks(emulator: MesosMasterEmulator) -> Iterator[Factory]:
    """Start planning frameworks on `emulator` (registered); each is stopped after the test."""
    made: list[MesosFramework] = []

    def make(
        queue: TaskQueue | None = None, store: FrameworkIdStore | None = None, **kw: Any
    ) -> MesosFramework:
        fw = MesosFramework(
            emulator.address,
            queue or TaskQueue(),
            store or MemoryIdStore(),
            user="test",
            failover_timeout_s=60,
            **kw,
        )
        made.append(fw)
        fw.start()
        assert fw.wait_registered(10), "framework did not register"
        return fw

    yield make
    for fw in made:
        fw.stop()
