"""Finding the cluster's Auto Scaling groups by tag, cheaply.

DescribeAutoScalingGroups is the call that throttles first in large accounts. Discovery by
the cluster tag is cached with a jittered expiry; between discoveries the known groups are
described by name, 100 per call. A discovery pass's reply already holds the groups, so a
pass never describes the same groups twice.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from controlplane.aws.calls import AwsCaller, BotoClient
from controlplane.aws.errors import BadAwsReplyError
from controlplane.aws.pool_rules import CLUSTER_TAG, POOL_TAG, AdapterSettings

#: DescribeAutoScalingGroups returns at most 100 groups per page and takes 100 names.
GROUPS_PER_CALL = 100


class GroupDirectory:
    """The cluster's groups: tag discovery with jittered expiry, then lookups by name."""

    def __init__(
        self,
        caller: AwsCaller,
        autoscaling: BotoClient,
        settings: AdapterSettings,
        rng: random.Random,
    ) -> None:
        self._caller = caller
        self._autoscaling = autoscaling
        self._settings = settings
        self._rng = rng
        self._names: list[str] = []
        self._expires: datetime | None = None

    def invalidate(self) -> None:
        """Forget the group names: the next describe discovers by tag again."""
        self._expires = None

    def describe(self, now: datetime) -> list[Mapping[str, Any]]:
        """Raw entries of every managed group (one call per 100 groups)."""
        if self._expires is None or now >= self._expires:
            raw = self._discover()
            self._names = sorted(str(g.get("AutoScalingGroupName", "")) for g in raw)
            spread = 1 + self._rng.uniform(
                -self._settings.cache_jitter, self._settings.cache_jitter
            )
            self._expires = now + timedelta(seconds=self._settings.discovery_ttl_s * spread)
            return raw
        out: list[Mapping[str, Any]] = []
        for start in range(0, len(self._names), GROUPS_PER_CALL):
            names = self._names[start : start + GROUPS_PER_CALL]
            out.extend(self._pages(AutoScalingGroupNames=names))
        # A group deleted or untagged since discovery is no longer ours to manage.
        return [
            g
            for g in out
            if _tag(g, CLUSTER_TAG) == self._settings.cluster and _tag(g, POOL_TAG) is not None
        ]

    def _discover(self) -> list[Mapping[str, Any]]:
        filters = [
            {"Name": f"tag:{CLUSTER_TAG}", "Values": [self._settings.cluster]},
            {"Name": "tag-key", "Values": [POOL_TAG]},
        ]
        return self._pages(Filters=filters)

    def _pages(self, **params: Any) -> list[Mapping[str, Any]]:
        out: list[Mapping[str, Any]] = []
        token: str | None = None
        while True:
            extra = {"NextToken": token} if token else {}
            reply = self._caller.read(
                self._autoscaling,
                "DescribeAutoScalingGroups",
                MaxRecords=GROUPS_PER_CALL,
                **params,
                **extra,
            )
            groups = reply.get("AutoScalingGroups")
            if not isinstance(groups, list):
                raise BadAwsReplyError(
                    "DescribeAutoScalingGroups: reply has no AutoScalingGroups list"
                )
            out.extend(groups)
            token = reply.get("NextToken")
            if not token:
                return out


def _tag(raw: Mapping[str, Any], key: str) -> str | None:
    for tag in raw.get("Tags", []) or []:
        if isinstance(tag, Mapping) and tag.get("Key") == key:
            return str(tag.get("Value", ""))
    return None
