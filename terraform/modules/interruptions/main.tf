# The interruption queue: EventBridge puts EC2 Spot interruption warnings, rebalance
# recommendations, instance state changes, Auto Scaling termination lifecycle actions and
# scheduled EC2 changes (AWS Health) on an encrypted SQS queue; the control plane's leader
# reads it (aws.interruption_queue_url). A message that is never deleted (one the control
# plane cannot read) goes to the dead-letter queue after max_receives tries.

locals {
  name = "${var.cluster}-cp-interruptions"
  rules = {
    spot = {
      description = "EC2 Spot Instance Interruption Warning"
      pattern     = { source = ["aws.ec2"], "detail-type" = ["EC2 Spot Instance Interruption Warning"] }
    }
    rebalance = {
      description = "EC2 Instance Rebalance Recommendation"
      pattern     = { source = ["aws.ec2"], "detail-type" = ["EC2 Instance Rebalance Recommendation"] }
    }
    state = {
      description = "EC2 instances stopping or gone"
      pattern = {
        source        = ["aws.ec2"]
        "detail-type" = ["EC2 Instance State-change Notification"]
        detail        = { state = ["stopping", "stopped", "shutting-down", "terminated"] }
      }
    }
    terminating = {
      description = "Auto Scaling termination lifecycle actions"
      pattern     = { source = ["aws.autoscaling"], "detail-type" = ["EC2 Instance-terminate Lifecycle Action"] }
    }
    scheduled = {
      description = "Scheduled changes to EC2 instances (AWS Health)"
      pattern = {
        source        = ["aws.health"]
        "detail-type" = ["AWS Health Event"]
        detail        = { service = ["EC2"], eventTypeCategory = ["scheduledChange"] }
      }
    }
  }
}

resource "aws_sqs_queue" "dead_letters" {
  name                      = "${local.name}-dlq"
  kms_master_key_id         = var.kms_key_arn
  message_retention_seconds = 1209600
  tags                      = var.tags
}

resource "aws_sqs_queue" "events" {
  name                       = local.name
  kms_master_key_id          = var.kms_key_arn
  message_retention_seconds  = var.retention_s
  visibility_timeout_seconds = 120
  receive_wait_time_seconds  = 20
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dead_letters.arn
    maxReceiveCount     = var.max_receives
  })
  tags = var.tags
}

resource "aws_cloudwatch_event_rule" "events" {
  for_each      = local.rules
  name          = "${local.name}-${each.key}"
  description   = "${each.value.description} -> the control plane's interruption queue"
  event_pattern = jsonencode(each.value.pattern)
  tags          = var.tags
}

resource "aws_cloudwatch_event_target" "events" {
  for_each = local.rules
  rule     = aws_cloudwatch_event_rule.events[each.key].name
  arn      = aws_sqs_queue.events.arn
}

# Only these rules may send, and only to this queue.
data "aws_iam_policy_document" "queue" {
  statement {
    sid       = "EventBridgeRules"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.events.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [for r in aws_cloudwatch_event_rule.events : r.arn]
    }
  }
}

resource "aws_sqs_queue_policy" "events" {
  queue_url = aws_sqs_queue.events.id
  policy    = data.aws_iam_policy_document.queue.json
}
