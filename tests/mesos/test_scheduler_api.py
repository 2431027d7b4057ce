"""Real pymesos against the emulator: subscribe, offers, launches, filters, rescinds, failover."""

from __future__ import annotations

from typing import Any

from pymesos import MesosSchedulerDriver

from controlplane.sim.clock import VirtualClock
from controlplane.sim.mesos_master import MasterCore, MesosMasterEmulator
from tests.mesos.conftest import DriverFactory, add_agents
from tests.support.mesos_calls import Recorder, task, wait_for


def test_subscribe_gives_framework_id_heartbeat_and_offers(
    emulator: MesosMasterEmulator, drivers: DriverFactory, driver_aborts: list[BaseException]
) -> None:
    _, rec = drivers(emulator.address)
    wait_for(lambda: rec.framework_ids and rec.heartbeats and len(rec.offers) == 3, what="offers")
    assert rec.framework_ids == [f"{emulator.core.master_id}-0000"]
    offer = rec.offers[0]
    assert offer["id"]["value"].startswith(f"{emulator.core.master_id}-O")
    assert offer["agent_id"]["value"].startswith(f"{emulator.core.master_id}-S")
    attrs = {a["name"]: a["text"]["value"] for a in offer["attributes"]}
    assert attrs["zone"] == "us-east-1a" and attrs["pool"] == "batch"
    cpus = next(r for r in offer["resources"] if r["name"] == "cpus")
    assert cpus["type"] == "SCALAR" and cpus["scalar"]["value"] == 4.0
    assert driver_aborts == []


def test_launch_runs_and_finishes_then_resources_come_back(
    emulator: MesosMasterEmulator, drivers: DriverFactory
) -> None:
    launched: list[str] = []

    def launch_once(driver: Any, offers: list[Any]) -> None:
        if not launched:
            offer = offers[0]
            launched.append(offer["agent_id"]["value"])
            tasks = [task("t-short", offer, duration_s="0.3"), task("t-long", offer, cpus=2)]
            driver.launchTasks(offer["id"], tasks, {"refuse_seconds": 0.1})

    _, rec = drivers(emulator.address, Recorder(launch_once))
    wait_for(lambda: "TASK_FINISHED" in rec.states("t-short"), what="t-short to finish")
    assert rec.states("t-short") == ["TASK_RUNNING", "TASK_FINISHED"]
    assert rec.states("t-long") == ["TASK_RUNNING"]
    assert "uuid" in rec.update("t-short", "TASK_FINISHED")  # agent-generated: acknowledged
    agent = emulator.core.agents[launched[0]]

    # The finished task's cpu is offered again (beside the launch's unused 1 cpu, held
    # in another offer); the long task's 2 cpus are not.
    def agent_offers() -> list[float]:
        return [_cpus(o) for o in rec.offers if o["agent_id"]["value"] == agent.id]

    wait_for(lambda: len(agent_offers()) == 3, what="re-offer of the freed cpu")
    assert agent_offers() == [4.0, 1.0, 1.0]
    assert emulator.core.offered(agent.id)["cpus"] == 2.0
    assert emulator.core.invariant_violations() == []


def test_bad_launch_gets_task_error_and_stale_offer_task_lost(
    emulator: MesosMasterEmulator, drivers: DriverFactory
) -> None:
    done: list[bool] = []

    def misuse(driver: Any, offers: list[Any]) -> None:
        if done:
            return
        done.append(True)
        offer = offers[0]
        driver.launchTasks(offer["id"], [task("too-big", offer, cpus=64)])
        # The offer was used above: launching on it again is launching on a stale offer.
        driver.launchTasks(offer["id"], [task("stale", offer)])

    _, rec = drivers(emulator.address, Recorder(misuse))
    wait_for(lambda: rec.states("stale"), what="status of the stale launch")
    error = rec.update("too-big", "TASK_ERROR")
    assert error["reason"] == "REASON_TASK_INVALID"
    lost = rec.update("stale", "TASK_LOST")
    assert lost["reason"] == "REASON_INVALID_OFFERS"
    assert lost["source"] == "SOURCE_MASTER" and "uuid" not in lost


def test_decline_filter_holds_until_refuse_seconds_pass(
    virtual_emulator: MesosMasterEmulator, clock: VirtualClock, drivers: DriverFactory
) -> None:
    def decline(driver: Any, offers: list[Any]) -> None:
        driver.declineOffer([o["id"] for o in offers], {"refuse_seconds": 60})

    _, rec = drivers(virtual_emulator.address, Recorder(decline))
    wait_for(lambda: len(rec.offers) == 3, what="first offers")
    wait_for(lambda: not virtual_emulator.core.offers, what="declines to land")
    clock.advance(30)
    virtual_emulator.core.tick()
    assert len(rec.offers) == 3  # filtered: nothing new within refuse_seconds
    clock.advance(31)
    wait_for(lambda: len(rec.offers) == 6, what="offers after the filter expires")


def test_suppress_stops_offers_and_revive_brings_them_back(
    virtual_emulator: MesosMasterEmulator, clock: VirtualClock, drivers: DriverFactory
) -> None:
    def decline(driver: Any, offers: list[Any]) -> None:
        driver.declineOffer([o["id"] for o in offers], {"refuse_seconds": 1})
        driver.suppressOffers()

    driver, rec = drivers(virtual_emulator.address, Recorder(decline))
    wait_for(lambda: len(rec.offers) == 3, what="first offers")
    fw = wait_for(lambda: next(iter(virtual_emulator.core.frameworks.values()), None))
    wait_for(lambda: fw.suppressed, what="SUPPRESS to land")
    clock.advance(100)
    virtual_emulator.core.tick()
    assert len(rec.offers) == 3
    rec.on_offers = None
    driver.reviveOffers()
    wait_for(lambda: len(rec.offers) == 6, what="offers after REVIVE")


def test_deactivating_an_agent_rescinds_its_offer(
    emulator: MesosMasterEmulator, drivers: DriverFactory
) -> None:
    _, rec = drivers(emulator.address)
    wait_for(lambda: len(rec.offers) == 3, what="offers")
    victim = rec.offers[0]
    emulator.core.set_active(victim["agent_id"]["value"], False)
    wait_for(lambda: victim["id"]["value"] in rec.rescinded, what="RESCIND")
    assert emulator.core.invariant_violations() == []


def test_kill_and_reconcile(emulator: MesosMasterEmulator, drivers: DriverFactory) -> None:
    def launch(driver: Any, offers: list[Any]) -> None:
        if not rec.updates:
            driver.launchTasks(offers[0]["id"], [task("k", offers[0])])

    driver, rec = drivers(emulator.address, Recorder(launch))
    wait_for(lambda: rec.states("k") == ["TASK_RUNNING"], what="k running")
    driver.reconcileTasks([{"task_id": {"value": "k"}}, {"task_id": {"value": "ghost"}}])
    wait_for(lambda: rec.states("ghost"), what="reconcile answers")
    running = rec.states("k")
    assert running == ["TASK_RUNNING", "TASK_RUNNING"]
    assert rec.update("ghost", "TASK_LOST")["reason"] == "REASON_RECONCILIATION"
    driver.killTask({"value": "k"})
    wait_for(lambda: "TASK_KILLED" in rec.states("k"), what="TASK_KILLED")


def test_framework_failover_same_id_old_stream_gets_error(
    emulator: MesosMasterEmulator, drivers: DriverFactory, driver_aborts: list[BaseException]
) -> None:
    _, first = drivers(emulator.address)
    framework_id = wait_for(lambda: first.framework_ids, what="registration")[0]
    _, second = drivers(emulator.address, framework_id=framework_id)
    wait_for(lambda: first.errors, what="ERROR on the old stream")
    assert first.errors == ["Framework failed over"]
    wait_for(lambda: second.reregistrations or second.framework_ids, what="second subscribed")
    assert emulator.core.frameworks[framework_id].stream is not None
    assert list(emulator.core.frameworks) == [framework_id]
    assert driver_aborts == []


def test_master_failover_driver_follows_307(drivers: DriverFactory) -> None:
    core = MasterCore(allocation_interval_s=0.2)
    add_agents(core)
    with MesosMasterEmulator(core) as leader, MesosMasterEmulator(core, leader=False) as standby:
        standby.become_standby(leader.address)
        # The driver is pointed at the standby and must follow its redirect.
        _, rec = drivers(standby.address)
        wait_for(lambda: rec.framework_ids and rec.offers, what="subscription via 307")
        # The leader moves: the old leader steps down (its streams end) and redirects.
        standby.become_leader()
        leader.become_standby(standby.address)
        wait_for(lambda: rec.reregistrations, what="re-subscription to the new leader")
        fw = core.frameworks[rec.framework_ids[0]]
        assert fw.stream is not None and not fw.stream.closed


def test_records_split_across_tiny_chunks(drivers: DriverFactory) -> None:
    core = MasterCore(allocation_interval_s=0.2)
    add_agents(core)
    with MesosMasterEmulator(core, max_chunk=3) as emu:
        _, rec = drivers(emu.address)
        wait_for(lambda: len(rec.offers) == 3 and rec.heartbeats, what="offers in 3-byte chunks")


def _cpus(offer: Any) -> float:
    return float(next(r["scalar"]["value"] for r in offer["resources"] if r["name"] == "cpus"))


def test_the_master_is_quiet_only_once_every_agent_update_is_acknowledged(
    emulator: MesosMasterEmulator, driver_aborts: list[BaseException]
) -> None:
    """What a replay on a virtual clock waits for: no offer unanswered, no allocation due,
    no agent update unacknowledged (Mesos keeps those for retry until acknowledged)."""
    launched: list[str] = []

    def launch_once(driver: Any, offers: list[Any]) -> None:
        ids = [o["id"] for o in offers]
        if not launched:
            launched.append(offers[0]["agent_id"]["value"])
            driver.launchTasks(ids[0], [task("t-ack", offers[0])], {"refuse_seconds": 3600})
            ids = ids[1:]
        if ids:
            driver.declineOffer(ids, {"refuse_seconds": 3600})

    rec = Recorder(launch_once)
    framework = {"user": "test", "name": "no-acks", "failover_timeout": 60.0}
    driver = MesosSchedulerDriver(
        rec, framework, emulator.address, use_addict=True, implicit_acknowledgements=False
    )
    driver.start()
    try:
        running = wait_for(lambda: rec.states("t-ack"), what="TASK_RUNNING")
        assert running == ["TASK_RUNNING"]
        wait_for(lambda: not emulator.core.offers, what="every offer answered")
        assert not emulator.core.quiet()  # the update is still unacknowledged
        driver.acknowledgeStatusUpdate(rec.update("t-ack", "TASK_RUNNING"))
        wait_for(emulator.core.quiet, what="quiet after the acknowledgement")
    finally:
        driver.stop(failover=True)
        driver.join()
    assert driver_aborts == []
