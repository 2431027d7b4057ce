"""A Mesos master emulator speaking the v1 scheduler and operator HTTP APIs on loopback.

`MesosMasterEmulator` is the server; `MasterCore` is the state machine behind it, usable
without HTTP. Wire facts it honours are in `shared/notes/mesos-wire.md`; what it leaves out
is in `docs/mesos.md`.
"""

from controlplane.mesos.recordio import Decoder, RecordIOError, encode
from controlplane.sim.mesos_master.core import DEFAULT_AGENT, MasterCore
from controlplane.sim.mesos_master.errors import CallError
from controlplane.sim.mesos_master.server import MesosMasterEmulator

__all__ = [
    "DEFAULT_AGENT",
    "CallError",
    "Decoder",
    "MasterCore",
    "MesosMasterEmulator",
    "RecordIOError",
    "encode",
]
