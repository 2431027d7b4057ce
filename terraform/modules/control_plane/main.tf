# The control-plane daemon (`controlplane run`): its hosts, IAM, state table, network and logs.

data "aws_region" "current" {}

locals {
  name     = "${var.cluster}-controlplane"
  region   = data.aws_region.current.name
  log_path = "/var/log/controlplane/daemon.log"

  ingress_ports = {
    ops    = var.ops_port
    demand = var.demand_port
  }
  ingress_cidr_rules = {
    for pair in setproduct(keys(local.ingress_ports), var.allowed_cidrs) :
    "${pair[0]}-${pair[1]}" => { port = local.ingress_ports[pair[0]], cidr = pair[1], what = pair[0] }
  }
  ingress_sg_rules = {
    for pair in setproduct(keys(local.ingress_ports), var.allowed_security_group_ids) :
    "${pair[0]}-${pair[1]}" => { port = local.ingress_ports[pair[0]], sg = pair[1], what = pair[0] }
  }
}

# ---- state table ------------------------------------------------------------------------

resource "aws_dynamodb_table" "state" {
  name                        = var.state_table_name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "cluster"
  range_key                   = "item"
  deletion_protection_enabled = var.table_deletion_protection

  attribute {
    name = "cluster"
    type = "S"
  }

  attribute {
    name = "item"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  tags = var.tags
}

# ---- logs -------------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "daemon" {
  name              = "/controlplane/${var.cluster}/daemon"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

# ---- IAM: what one reconcile pass calls, nothing more -----------------------------------

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

# ---- the interruption queue (Spot warnings, rebalance, state changes) --------------------

module "interruptions" {
  source = "../interruptions"
  count  = var.interruption_queue ? 1 : 0

  cluster     = var.cluster
  kms_key_arn = var.kms_key_arn
  tags        = var.tags
}

locals {
  interruption_queue_url = var.interruption_queue ? module.interruptions[0].queue_url : null
}

module "fleet_policy" {
  source = "../fleet_policy"

  cluster         = var.cluster
  state_table_arn = aws_dynamodb_table.state.arn
  kms_key_arn     = var.kms_key_arn
  # The pass's state and the framework's durable task queue (StateStore.tasks_partition).
  table_partitions = [var.cluster, "${var.cluster}#tasks"]
  secret_arns      = compact([var.mesos_secret_arn, var.api_tokens_secret_arn])
  # Read and delete on the interruption queue, when there is one.
  interruption_queue_arn = var.interruption_queue ? module.interruptions[0].queue_arn : null
}

data "aws_iam_policy_document" "daemon" {
  # The reconcile pass (fleet_policy), plus the daemon's own log group.
  source_policy_documents = [module.fleet_policy.json]

  statement {
    sid       = "OwnLogGroup"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = [aws_cloudwatch_log_group.daemon.arn, "${aws_cloudwatch_log_group.daemon.arn}:*"]
  }
}

resource "aws_iam_role" "daemon" {
  name_prefix        = "${var.cluster}-cp-daemon-"
  description        = "controlplane daemon of cluster ${var.cluster}"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "daemon" {
  name   = "controlplane"
  role   = aws_iam_role.daemon.id
  policy = data.aws_iam_policy_document.daemon.json
}

resource "aws_iam_instance_profile" "daemon" {
  name_prefix = "${var.cluster}-cp-daemon-"
  role        = aws_iam_role.daemon.name
  tags        = var.tags
}

# ---- network ----------------------------------------------------------------------------

resource "aws_security_group" "daemon" {
  name_prefix = "${local.name}-"
  description = "controlplane daemon of ${var.cluster}: metrics/health and demand in, Mesos and HTTPS out"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = local.name })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "from_cidr" {
  for_each = local.ingress_cidr_rules

  security_group_id = aws_security_group.daemon.id
  description       = "${each.value.what} port from ${each.value.cidr}"
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
  cidr_ipv4         = each.value.cidr
}

resource "aws_vpc_security_group_ingress_rule" "from_sg" {
  for_each = local.ingress_sg_rules

  security_group_id            = aws_security_group.daemon.id
  description                  = "${each.value.what} port from ${each.value.sg}"
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
  referenced_security_group_id = each.value.sg
}

resource "aws_vpc_security_group_egress_rule" "mesos" {
  for_each = toset(var.mesos_cidrs)

  security_group_id = aws_security_group.daemon.id
  description       = "Mesos master HTTP API"
  ip_protocol       = "tcp"
  from_port         = var.mesos_port
  to_port           = var.mesos_port
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "https" {
  for_each = toset(var.https_egress_cidrs)

  security_group_id = aws_security_group.daemon.id
  description       = "HTTPS: AWS APIs, CloudWatch, package index at boot"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = each.value
}

# ---- hosts ------------------------------------------------------------------------------

resource "aws_launch_template" "daemon" {
  name_prefix            = "${local.name}-"
  description            = "controlplane daemon of cluster ${var.cluster}"
  image_id               = var.ami_id
  instance_type          = var.instance_type
  vpc_security_group_ids = [aws_security_group.daemon.id]
  update_default_version = true
  ebs_optimized          = true

  lifecycle {
    precondition {
      condition     = var.demand_source != "framework" || var.api_tokens_secret_arn != null
      error_message = "demand_source framework serves the task API: set api_tokens_secret_arn."
    }
    precondition {
      condition     = (var.mesos_principal == null) == (var.mesos_secret_arn == null)
      error_message = "Give mesos_principal and mesos_secret_arn together, or neither."
    }
    precondition {
      condition     = (var.api_tls_cert_path == null) == (var.api_tls_key_path == null)
      error_message = "Give api_tls_cert_path and api_tls_key_path together, or neither."
    }
  }

  user_data = base64encode(templatefile("${path.module}/../../../infra/daemon/user-data.sh.tftpl", {
    config_toml  = local.config_toml
    service_unit = file("${path.module}/../../../infra/daemon/controlplane.service")
    package_spec = var.package_spec
    pip_args     = var.pip_args
    python_bin   = var.python_bin
    log_group    = aws_cloudwatch_log_group.daemon.name
    log_path     = local.log_path
  }))

  iam_instance_profile {
    arn = aws_iam_instance_profile.daemon.arn
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size           = 20
      volume_type           = "gp3"
      encrypted             = true
      kms_key_id            = var.kms_key_arn
      delete_on_termination = true
    }
  }

  monitoring {
    enabled = true
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = local.name })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(var.tags, { Name = local.name })
  }

  tags = var.tags
}

resource "aws_autoscaling_group" "daemon" {
  name                = local.name
  vpc_zone_identifier = var.subnet_ids
  min_size            = var.instance_count
  max_size            = 2
  desired_capacity    = var.instance_count
  health_check_type   = "EC2"

  launch_template {
    id      = aws_launch_template.daemon.id
    version = aws_launch_template.daemon.latest_version
  }

  # A new template rolls one host at a time; the standby takes the lease meanwhile.
  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 50
    }
  }

  dynamic "tag" {
    for_each = merge(var.tags, { Name = local.name })
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }
}
