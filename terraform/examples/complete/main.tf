# One cluster: a control plane, two pools over three zones, and business-hours scaling.

provider "aws" {
  region = var.region
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  tags = {
    Project = "controlplane"
    Cluster = var.cluster
  }
}

# One key for the cluster's state table, logs, Lambda environment, schedules and volumes.
resource "aws_kms_key" "cluster" {
  description             = "controlplane ${var.cluster}"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersThroughIam"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogs"
        Effect    = "Allow"
        Principal = { Service = "logs.${var.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnLike = {
            "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:*"
          }
        }
      },
      {
        Sid    = "AutoScalingEncryptsVolumes"
        Effect = "Allow"
        Principal = {
          AWS = "arn:${local.partition}:iam::${local.account_id}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
        }
        Action   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
        Resource = "*"
      },
      {
        Sid    = "AutoScalingGrantsVolumes"
        Effect = "Allow"
        Principal = {
          AWS = "arn:${local.partition}:iam::${local.account_id}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
        }
        Action    = "kms:CreateGrant"
        Resource  = "*"
        Condition = { Bool = { "kms:GrantIsForAWSResource" = "true" } }
      },
    ]
  })
  tags = local.tags
}

resource "aws_kms_alias" "cluster" {
  name          = "alias/controlplane-${var.cluster}"
  target_key_id = aws_kms_key.cluster.key_id
}

module "control_plane" {
  source = "../../modules/control_plane"

  cluster       = var.cluster
  vpc_id        = var.vpc_id
  subnet_ids    = values(var.private_subnets)
  ami_id        = var.daemon_ami_id
  package_spec  = var.daemon_package_spec
  pip_args      = var.daemon_pip_args
  kms_key_arn   = aws_kms_key.cluster.arn
  mesos_masters = var.mesos_masters
  mesos_cidrs   = var.mesos_cidrs
  allowed_cidrs = var.monitoring_cidrs
  tags          = local.tags
}

module "pool_batch" {
  source = "../../modules/agent_pool"

  cluster            = var.cluster
  pool               = "batch"
  subnets            = var.private_subnets
  instance_type      = "m5.4xlarge"
  ami_id             = var.agent_ami_id
  security_group_ids = var.agent_security_group_ids
  max_size_per_zone  = 40
  kms_key_arn        = aws_kms_key.cluster.arn
  mesos_master       = var.mesos_master
  attributes = {
    tier = "batch"
  }
  # Tag overrides of the daemon's pool rules: on-demand price, keep one spare agent.
  rules = {
    hourly_price = "0.768"
    min_idle     = "1"
  }
  tags = local.tags
}

module "pool_services" {
  source = "../../modules/agent_pool"

  cluster            = var.cluster
  pool               = "services"
  subnets            = var.private_subnets
  instance_type      = "r5.2xlarge"
  ami_id             = var.agent_ami_id
  security_group_ids = var.agent_security_group_ids
  min_size_per_zone  = 1
  max_size_per_zone  = 10
  kms_key_arn        = aws_kms_key.cluster.arn
  mesos_master       = var.mesos_master
  attributes = {
    tier = "services"
  }
  tags = local.tags
}

module "scheduled_scaling" {
  source = "../../modules/scheduled_scaling"

  cluster          = var.cluster
  lambda_zip_path  = var.lambda_zip_path
  state_table_name = module.control_plane.state_table_name
  state_table_arn  = module.control_plane.state_table_arn
  kms_key_arn      = aws_kms_key.cluster.arn
  mesos_masters    = var.mesos_masters
  vpc_id           = var.vpc_id
  subnet_ids       = values(var.private_subnets)
  mesos_cidrs      = var.mesos_cidrs
  profiles = [
    {
      name          = "business-hours"
      pool          = "services"
      min_instances = 6
      timezone      = "Europe/Berlin"
      days          = ["mon", "tue", "wed", "thu", "fri"]
      start         = "08:00"
      end           = "20:00"
    },
    {
      name          = "nightly-etl"
      pool          = "batch"
      min_instances = 12
      timezone      = "America/New_York"
      cron          = "30 1 * * *"
      duration_s    = 10800
    },
  ]
  tags = local.tags
}
