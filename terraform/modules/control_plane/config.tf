# The daemon's configuration file, kept apart (variables and local.region only) so that the
# tests can evaluate it with `terraform console` and validate it against Settings.

locals {
  # /etc/controlplane/controlplane.toml; values are JSON strings/arrays (valid TOML).
  config_toml = join("\n", compact([
    "cluster = ${jsonencode(var.cluster)}",
    "[mesos]",
    "masters = ${jsonencode(var.mesos_masters)}",
    var.mesos_principal == null ? "" : "principal = ${jsonencode(var.mesos_principal)}",
    var.mesos_secret == null ? "" : "secret = ${jsonencode(var.mesos_secret)}",
    "[aws]",
    "region = ${jsonencode(local.region)}",
    "state_table = ${jsonencode(var.state_table_name)}",
    "termination_hook = ${jsonencode(var.termination_hook_name)}",
    "[demand]",
    "source = ${jsonencode(var.demand_source)}",
    var.demand_url == null ? "" : "url = ${jsonencode(var.demand_url)}",
    "listen_host = \"0.0.0.0\"",
    "listen_port = ${var.demand_port}",
    "[ops]",
    "host = \"0.0.0.0\"",
    "port = ${var.ops_port}",
  ]))
}
