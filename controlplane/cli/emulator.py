"""`controlplane mesos-emulator`: a Mesos master emulator on 127.0.0.1 until stopped."""

from __future__ import annotations

import argparse
import signal
import threading

from controlplane.errors import InputError
from controlplane.sim.mesos_master import MasterCore, MesosMasterEmulator
from controlplane.sim.mesos_master.agents_spec import add_agent_groups, parse_agents_spec


def cmd_mesos_emulator(args: argparse.Namespace) -> int:
    groups = parse_agents_spec(args.agents)
    core = MasterCore(allocation_interval_s=args.allocation_interval)
    ids = add_agent_groups(core, groups)
    try:
        emulator = MesosMasterEmulator(core, port=args.port).start()
    except OSError as exc:
        raise InputError(f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}") from exc
    done = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: done.set())
    print(
        f"mesos-emulator: master {emulator.address} (Mesos 1.11.0 API), {len(ids)} agents; "
        "Ctrl-C stops",
        flush=True,
    )
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        emulator.stop()
    return 0
