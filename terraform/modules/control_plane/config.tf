# The daemon's configuration file, kept apart (variables, local.region and
# local.interruption_queue_url only) so that the tests can evaluate it with `terraform
# console` and validate it against Settings.

locals {
  # The APIs listen beyond loopback only when someone is allowed to reach them.
  reachable   = length(var.allowed_cidrs) + length(var.allowed_security_group_ids) > 0
  listen_host = local.reachable ? "0.0.0.0" : "127.0.0.1"
  # What both APIs serve: tokens from the secret (never in this file), TLS when given.
  access_lines = compact([
    var.api_tokens_secret_arn == null ? "" : "tokens_secret = ${jsonencode(var.api_tokens_secret_arn)}",
    var.api_tls_cert_path == null ? "" : "tls_cert = ${jsonencode(var.api_tls_cert_path)}",
    var.api_tls_key_path == null ? "" : "tls_key = ${jsonencode(var.api_tls_key_path)}",
  ])

  # /etc/controlplane/controlplane.toml; values are JSON strings/arrays (valid TOML). It
  # holds no secret: the Mesos secret and the API tokens are read from their ARNs at start.
  config_toml = join("\n", compact(concat(
    [
      "cluster = ${jsonencode(var.cluster)}",
      "[mesos]",
      "masters = ${jsonencode(var.mesos_masters)}",
      var.mesos_principal == null ? "" : "principal = ${jsonencode(var.mesos_principal)}",
      var.mesos_secret_arn == null ? "" : "secret_arn = ${jsonencode(var.mesos_secret_arn)}",
      "[aws]",
      "region = ${jsonencode(local.region)}",
      "state_table = ${jsonencode(var.state_table_name)}",
      "termination_hook = ${jsonencode(var.termination_hook_name)}",
      local.interruption_queue_url == null ? "" : "interruption_queue_url = ${jsonencode(local.interruption_queue_url)}",
      "[demand]",
      "source = ${jsonencode(var.demand_source)}",
      var.demand_url == null ? "" : "url = ${jsonencode(var.demand_url)}",
      "listen_host = ${jsonencode(local.listen_host)}",
      "listen_port = ${var.demand_port}",
      var.default_task_command == null ? "" : "default_command = ${jsonencode(var.default_task_command)}",
      "[demand.commands]",
    ],
    [for name, argv in var.task_commands : "${jsonencode(name)} = ${jsonencode(argv)}"],
    ["[demand.access]"],
    local.access_lines,
    [
      "[ops]",
      "host = ${jsonencode(local.listen_host)}",
      "port = ${var.ops_port}",
      "[ops.access]",
    ],
    local.reachable ? local.access_lines : [],
  )))
}
