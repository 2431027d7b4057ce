# What one reconcile pass calls, and nothing more: the one policy the daemon (control_plane)
# and the scheduled-scaling Lambda both attach. tests/deploy compare it with every AWS call
# the code makes.

data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  region = data.aws_region.current.name
  # The partitions of the state table this policy reaches: the cluster's own by default.
  partitions      = length(var.table_partitions) > 0 ? var.table_partitions : [var.cluster]
  ssm_secrets     = [for a in var.secret_arns : a if startswith(a, "arn:${data.aws_partition.current.partition}:ssm:")]
  manager_secrets = [for a in var.secret_arns : a if !contains(local.ssm_secrets, a)]
}

data "aws_iam_policy_document" "fleet" {
  dynamic "statement" {
    for_each = var.floors_only ? [] : [1]
    content {
      sid = "StateTable"
      actions = [
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
        "dynamodb:TransactWriteItems",
      ]
      resources = [var.state_table_arn]
      # Only this cluster's partitions: one cluster's control plane cannot read or write
      # another's state in a shared table.
      condition {
        test     = "ForAllValues:StringEquals"
        variable = "dynamodb:LeadingKeys"
        values   = local.partitions
      }
    }
  }

  # A scheduler that only writes floors reads the state and writes floor items, no more.
  dynamic "statement" {
    for_each = var.floors_only ? [1] : []
    content {
      sid       = "StateTableFloors"
      actions   = ["dynamodb:Query", "dynamodb:PutItem", "dynamodb:DeleteItem"]
      resources = [var.state_table_arn]
      condition {
        test     = "ForAllValues:StringEquals"
        variable = "dynamodb:LeadingKeys"
        values   = local.partitions
      }
    }
  }

  # The secrets named by ARN (the Mesos secret, API tokens), each readable, nothing else.
  dynamic "statement" {
    for_each = length(local.manager_secrets) > 0 ? [1] : []
    content {
      sid       = "ReadNamedSecrets"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = local.manager_secrets
    }
  }

  dynamic "statement" {
    for_each = length(local.ssm_secrets) > 0 ? [1] : []
    content {
      sid       = "ReadNamedParameters"
      actions   = ["ssm:GetParameter"]
      resources = local.ssm_secrets
    }
  }

  dynamic "statement" {
    for_each = length(var.secret_arns) > 0 ? [1] : []
    content {
      sid       = "SecretsKey"
      actions   = ["kms:Decrypt"]
      resources = [var.kms_key_arn]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${local.region}.amazonaws.com", "ssm.${local.region}.amazonaws.com"]
      }
    }
  }

  statement {
    sid       = "StateTableKey"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*", "kms:DescribeKey"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["dynamodb.${local.region}.amazonaws.com"]
    }
  }

  dynamic "statement" {
    for_each = var.floors_only ? [] : [1]
    content {
      sid = "ReadFleet"
      actions = [
        "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:DescribeScalingActivities",
        "ec2:DescribeInstanceTypes",
        "ec2:DescribeLaunchTemplateVersions",
        "ec2:DescribeSpotPriceHistory",
      ]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = var.floors_only ? [] : [1]
    content {
      sid = "ActOnThisClustersGroups"
      actions = [
        "autoscaling:SetDesiredCapacity",
        "autoscaling:TerminateInstanceInAutoScalingGroup",
        "autoscaling:SetInstanceProtection",
        "autoscaling:CompleteLifecycleAction",
        "autoscaling:RecordLifecycleActionHeartbeat",
      ]
      resources = ["arn:${data.aws_partition.current.partition}:autoscaling:${local.region}:${data.aws_caller_identity.current.account_id}:autoScalingGroup:*:autoScalingGroupName/*"]
      condition {
        test     = "StringEquals"
        variable = "aws:ResourceTag/controlplane:cluster"
        values   = [var.cluster]
      }
    }
  }

  # The interruption queue (modules/interruptions): take and delete messages, nothing else.
  dynamic "statement" {
    for_each = var.interruption_queue_arn == null ? [] : [1]
    content {
      sid       = "ReadInterruptions"
      actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage"]
      resources = [var.interruption_queue_arn]
    }
  }

  dynamic "statement" {
    for_each = var.interruption_queue_arn == null ? [] : [1]
    content {
      sid       = "InterruptionsKey"
      actions   = ["kms:Decrypt"]
      resources = [coalesce(var.interruption_kms_key_arn, var.kms_key_arn)]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["sqs.${local.region}.amazonaws.com"]
      }
    }
  }
}
