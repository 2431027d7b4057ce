"""Autoscaling control plane for Apache Mesos clusters on AWS."""

__version__ = "0.1.0"
