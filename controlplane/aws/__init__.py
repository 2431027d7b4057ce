"""AWS adapter: Auto Scaling groups into snapshot parts, plan actions into API calls.

It decides nothing the planner decides; it does enforce safety itself (group bounds, the
exact instance, drained first), because a plan computed from a stale picture must not be
able to kill a busy agent or push a group past its limits.
"""
