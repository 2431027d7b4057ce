"""The pure planner: `plan(snapshot) -> Plan`. No boto3, no I/O, no clock reads."""

from controlplane.planning.planner import plan

__all__ = ["plan"]
