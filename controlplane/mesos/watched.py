"""The operator client with its agents read from the event stream when it can be.

A pass asks for agents; `WatchedOperator` answers from the `ClusterWatch` picture when it is
fresh, and from GET_STATE otherwise. Every `refresh_passes`-th pass reads GET_STATE and has
the watch subscribe again, so what no event reports (an operator's deactivation, a drain,
executors' resources) is caught within that many passes. Its own DEACTIVATE/REACTIVATE
calls are noted in the picture at once. `source` says where the last agents came from.
"""

from __future__ import annotations

from typing import Literal

from controlplane.mesos.event_stream import ClusterWatch
from controlplane.mesos.operator_client import OperatorClient
from controlplane.mesos.replies import AgentView

Source = Literal["events", "GET_STATE"]


class WatchedOperator:
    def __init__(self, client: OperatorClient, watch: ClusterWatch, refresh_passes: int) -> None:
        self.client = client
        self.watch = watch
        self.refresh_passes = max(1, refresh_passes)
        self.source: Source = "GET_STATE"
        self._since_refresh = 0

    def agents(self) -> list[AgentView]:
        self._since_refresh += 1
        if self._since_refresh < self.refresh_passes:
            views = self.watch.picture.views()
            if views is not None:
                self.source = "events"
                self.client.metrics.observations.labels("events").inc()
                return views
        self._since_refresh = 0
        self.source = "GET_STATE"
        self.client.metrics.observations.labels("GET_STATE").inc()
        self.watch.resubscribe("refresh")
        return self.client.agents()

    def agents_only(self) -> list[AgentView]:
        return self.client.agents_only()

    def deactivate_agent(self, agent_id: str) -> None:
        self.client.deactivate_agent(agent_id)
        self.watch.picture.noted_active(agent_id, False)

    def reactivate_agent(self, agent_id: str) -> None:
        self.client.reactivate_agent(agent_id)
        self.watch.picture.noted_active(agent_id, True)
