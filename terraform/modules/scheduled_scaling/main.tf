# The scheduled-scaling Lambda (lambdas/scheduled_scaling): writes each pool's scheduled floor
# and, when no daemon holds the lease, runs one reconcile pass. EventBridge Scheduler calls it
# at every window's start and end (in the profile's own timezone) and every 5 minutes; the
# handler recomputes the whole answer each time, so a missed or repeated call heals itself.

data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  function_name = "${var.cluster}-scheduled-scaling"
  region        = data.aws_region.current.name
  account_id    = data.aws_caller_identity.current.account_id
  partition     = data.aws_partition.current.partition
}

# ---- dead letters -----------------------------------------------------------------------

resource "aws_sqs_queue" "dead_letters" {
  name                      = "${local.function_name}-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
  tags                      = var.tags
}

# ---- the function -----------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "function" {
  name              = "/aws/lambda/${local.function_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

module "fleet_policy" {
  source = "../fleet_policy"

  cluster         = var.cluster
  state_table_arn = var.state_table_arn
  kms_key_arn     = var.kms_key_arn
  # Only what the function's mode needs: floors alone, or floors and a reconcile pass.
  floors_only = !local.passes
  secret_arns = local.passes ? compact([var.mesos_secret_arn, var.demand_url_token_secret_arn]) : []
}

data "aws_iam_policy_document" "lambda" {
  # The reconcile pass (fleet_policy), plus what a Lambda in a VPC with a KMS-encrypted
  # environment and a dead-letter queue needs.
  source_policy_documents = [module.fleet_policy.json]

  statement {
    sid       = "EnvironmentKey"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["lambda.${local.region}.amazonaws.com"]
    }
  }

  statement {
    sid = "VpcReads"
    # Lambda in a VPC: the function's network interfaces.
    actions   = ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"]
    resources = ["*"]
  }

  statement {
    sid = "VpcNetworkInterfaces"
    actions = [
      "ec2:CreateNetworkInterface",
      "ec2:DeleteNetworkInterface",
      "ec2:AssignPrivateIpAddresses",
      "ec2:UnassignPrivateIpAddresses",
    ]
    resources = [
      "arn:${local.partition}:ec2:${local.region}:${local.account_id}:network-interface/*",
      "arn:${local.partition}:ec2:${local.region}:${local.account_id}:subnet/*",
      "arn:${local.partition}:ec2:${local.region}:${local.account_id}:security-group/*",
    ]
  }

  statement {
    sid       = "OwnLogGroup"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function.arn}:*"]
  }

  statement {
    sid       = "DeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dead_letters.arn]
  }
}

resource "aws_iam_role" "lambda" {
  name_prefix        = "${var.cluster}-cp-lambda-"
  description        = "controlplane scheduled scaling of cluster ${var.cluster}"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "lambda" {
  name   = "controlplane"
  role   = aws_iam_role.lambda.id
  policy = data.aws_iam_policy_document.lambda.json
}

resource "aws_security_group" "lambda" {
  name_prefix = "${local.function_name}-"
  description = "controlplane scheduled scaling of ${var.cluster}: Mesos and HTTPS out, nothing in"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = local.function_name })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_egress_rule" "mesos" {
  for_each = toset(var.mesos_cidrs)

  security_group_id = aws_security_group.lambda.id
  description       = "Mesos master operator API"
  ip_protocol       = "tcp"
  from_port         = var.mesos_port
  to_port           = var.mesos_port
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "https" {
  for_each = toset(var.https_egress_cidrs)

  security_group_id = aws_security_group.lambda.id
  description       = "HTTPS: AWS APIs and the demand feed"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = each.value
}

resource "aws_lambda_function" "scheduled_scaling" {
  #checkov:skip=CKV_AWS_272:The zip is built byte-for-byte reproducibly by `make lambda-zip` and pinned by source_code_hash; no AWS Signer profile in this stack.
  function_name                  = local.function_name
  description                    = "controlplane scheduled pool floors for cluster ${var.cluster}"
  filename                       = var.lambda_zip_path
  source_code_hash               = filebase64sha256(var.lambda_zip_path)
  handler                        = "lambdas.scheduled_scaling.handler.handler"
  runtime                        = "python3.12"
  architectures                  = ["x86_64"]
  role                           = aws_iam_role.lambda.arn
  timeout                        = var.timeout_s
  memory_size                    = var.memory_mb
  reserved_concurrent_executions = 1
  kms_key_arn                    = var.kms_key_arn

  environment {
    variables = local.environment
  }

  vpc_config {
    subnet_ids         = var.subnet_ids
    security_group_ids = [aws_security_group.lambda.id]
  }

  dead_letter_config {
    target_arn = aws_sqs_queue.dead_letters.arn
  }

  # PassThrough: trace when the caller samples; no X-Ray write permissions needed.
  tracing_config {
    mode = "PassThrough"
  }

  tags = var.tags

  # The log group exists (retention, KMS) before the function could create its default one.
  depends_on = [aws_iam_role_policy.lambda, aws_cloudwatch_log_group.function]
}

resource "aws_lambda_function_event_invoke_config" "scheduled_scaling" {
  function_name                = aws_lambda_function.scheduled_scaling.function_name
  maximum_retry_attempts       = 2
  maximum_event_age_in_seconds = 900
}

# ---- EventBridge Scheduler --------------------------------------------------------------

data "aws_iam_policy_document" "scheduler_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    sid       = "InvokeFunction"
    actions   = ["lambda:InvokeFunction"]
    resources = [aws_lambda_function.scheduled_scaling.arn, "${aws_lambda_function.scheduled_scaling.arn}:*"]
  }

  statement {
    sid       = "DeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dead_letters.arn]
  }

  statement {
    sid       = "ScheduleKey"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role" "scheduler" {
  name_prefix        = "${var.cluster}-cp-scheduler-"
  description        = "EventBridge Scheduler invoking ${local.function_name}"
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "scheduler" {
  name   = "invoke"
  role   = aws_iam_role.scheduler.id
  policy = data.aws_iam_policy_document.scheduler.json
}

resource "aws_scheduler_schedule_group" "cluster" {
  name = "${var.cluster}-controlplane"
  tags = var.tags
}

resource "aws_scheduler_schedule" "edge" {
  for_each = local.edges

  name                         = "${var.cluster}-${each.key}"
  group_name                   = aws_scheduler_schedule_group.cluster.name
  description                  = "${each.value.edge} of profile ${each.value.profile}"
  schedule_expression          = each.value.expression
  schedule_expression_timezone = each.value.timezone
  kms_key_arn                  = var.kms_key_arn

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_lambda_function.scheduled_scaling.arn
    role_arn = aws_iam_role.scheduler.arn
    input = jsonencode({
      source  = "controlplane.schedule"
      profile = each.value.profile
      edge    = each.value.edge
      time    = "<aws.scheduler.scheduled-time>"
    })

    retry_policy {
      maximum_event_age_in_seconds = 900
      maximum_retry_attempts       = 3
    }

    dead_letter_config {
      arn = aws_sqs_queue.dead_letters.arn
    }
  }
}

resource "aws_scheduler_schedule" "safety" {
  name                         = "${var.cluster}-safety-check"
  group_name                   = aws_scheduler_schedule_group.cluster.name
  description                  = "Recompute every floor (heals missed window edges, applies cron ends)"
  schedule_expression          = var.safety_schedule_expression
  schedule_expression_timezone = "UTC"
  kms_key_arn                  = var.kms_key_arn

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_lambda_function.scheduled_scaling.arn
    role_arn = aws_iam_role.scheduler.arn
    input = jsonencode({
      source = "controlplane.schedule"
      edge   = "check"
      time   = "<aws.scheduler.scheduled-time>"
    })

    retry_policy {
      maximum_event_age_in_seconds = 300
      maximum_retry_attempts       = 1
    }

    dead_letter_config {
      arn = aws_sqs_queue.dead_letters.arn
    }
  }
}
