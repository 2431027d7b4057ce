# The function's configuration (Settings from CONTROLPLANE_* variables). Only variables and
# local.region in here: the tests evaluate it with `terraform console` and load it as Settings.

locals {
  # The profiles as Settings reads them: absent fields take the Profile defaults.
  profiles_json = jsonencode([for p in var.profiles : { for k, v in p : k => v if v != null }])

  # Without a demand feed the daemon is the framework: the function writes floors only.
  environment = merge(
    {
      CONTROLPLANE_CLUSTER               = var.cluster
      CONTROLPLANE_AWS__REGION           = local.region
      CONTROLPLANE_AWS__STATE_TABLE      = var.state_table_name
      CONTROLPLANE_AWS__TERMINATION_HOOK = var.termination_hook_name
      CONTROLPLANE_MESOS__MASTERS        = jsonencode(var.mesos_masters)
      CONTROLPLANE_DEMAND__SOURCE        = var.demand_url == null ? "framework" : "http"
      CONTROLPLANE_SCHEDULE__PROFILES    = local.profiles_json
      CONTROLPLANE_SCHEDULE__RUN_PASS    = var.run_pass ? "true" : "false"
    },
    var.demand_url == null ? {} : { CONTROLPLANE_DEMAND__URL = var.demand_url },
    var.demand_url_token_secret_arn == null ? {} : { CONTROLPLANE_DEMAND__URL_TOKEN_SECRET = var.demand_url_token_secret_arn },
    # Secrets by reference only, and only where a pass runs (floors need no Mesos).
    var.mesos_principal == null || !local.passes ? {} : { CONTROLPLANE_MESOS__PRINCIPAL = var.mesos_principal },
    var.mesos_secret_arn == null || !local.passes ? {} : { CONTROLPLANE_MESOS__SECRET_ARN = var.mesos_secret_arn },
  )
  # A pass runs only with run_pass and a demand feed (the handler skips it otherwise).
  passes = var.run_pass && var.demand_url != null
}
