# The tags the control plane reads (controlplane/aws/pool_rules.py), kept apart (variables
# only) so that the tests can evaluate them with `terraform console` and parse them as the
# adapter does.

locals {
  name = "${var.cluster}-${var.pool}"

  # Extra Mesos attributes after the four the control plane reads (pool, zone, asg, instance_id).
  extra_attributes = join("", [for k in sort(keys(var.attributes)) : ";${k}:${var.attributes[k]}"])

  discovery_tags = merge(
    {
      "controlplane:cluster" = var.cluster
      "controlplane:pool"    = var.pool
    },
    { for k, v in var.attributes : "controlplane:attr:${k}" => v },
    # Per-pool overrides of the daemon's rules (min_idle, idle_grace_s, hourly_price, ...).
    { for k, v in var.rules : "controlplane:${k}" => v },
  )
}
