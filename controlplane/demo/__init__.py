"""`controlplane demo`: replay a workload against the embedded world and draw the report."""
