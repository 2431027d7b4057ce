# One pool of Mesos agents: a launch template and one Auto Scaling group per zone.
#
# The control plane finds the groups by their controlplane:cluster / controlplane:pool tags
# (controlplane/aws/pool_rules.py) and owns their desired capacity: Terraform sets the bounds
# and ignores desired_capacity after creation.

resource "aws_launch_template" "agent" {
  name_prefix            = "${local.name}-"
  description            = "Mesos agents of pool ${var.pool} in cluster ${var.cluster}"
  image_id               = var.ami_id
  instance_type          = var.instance_type
  vpc_security_group_ids = var.security_group_ids
  update_default_version = true
  ebs_optimized          = true

  user_data = base64encode(templatefile("${path.module}/../../../infra/agent/user-data.sh.tftpl", {
    cluster          = var.cluster
    pool             = var.pool
    mesos_master     = var.mesos_master
    work_dir         = var.mesos_work_dir
    extra_attributes = local.extra_attributes
    agent_unit       = file("${path.module}/../../../infra/agent/mesos-agent.service")
  }))

  dynamic "iam_instance_profile" {
    for_each = var.iam_instance_profile_name == null ? [] : [var.iam_instance_profile_name]
    content {
      name = iam_instance_profile.value
    }
  }

  # IMDSv2 only, one hop (containers on the agent cannot reach it), tags readable from IMDS
  # (the user data reads aws:autoscaling:groupName there).
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "enabled"
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size           = var.root_volume_size_gb
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
    tags          = merge(var.tags, local.discovery_tags)
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(var.tags, local.discovery_tags)
  }

  tags = var.tags
}

resource "aws_autoscaling_group" "zone" {
  for_each = var.subnets

  name                  = "${local.name}-${each.key}"
  vpc_zone_identifier   = [each.value]
  min_size              = var.min_size_per_zone
  max_size              = var.max_size_per_zone
  desired_capacity      = var.min_size_per_zone
  protect_from_scale_in = var.scale_in_protection
  health_check_type     = "EC2"
  suspended_processes   = ["AZRebalance"]
  metrics_granularity   = "1Minute"
  enabled_metrics = [
    "GroupDesiredCapacity",
    "GroupInServiceInstances",
    "GroupPendingInstances",
    "GroupTerminatingInstances",
    "GroupTotalInstances",
  ]

  launch_template {
    id      = aws_launch_template.agent.id
    version = aws_launch_template.agent.latest_version
  }

  # The control plane drains the agent in Mesos, then completes this action (CONTINUE after
  # the heartbeat timeout if nobody does: the instance must not hang around forever).
  initial_lifecycle_hook {
    name                 = var.termination_hook_name
    lifecycle_transition = "autoscaling:EC2_INSTANCE_TERMINATING"
    default_result       = "CONTINUE"
    heartbeat_timeout    = var.termination_hook_heartbeat_s
  }

  dynamic "tag" {
    for_each = merge(var.tags, local.discovery_tags)
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  lifecycle {
    # The control plane owns desired capacity.
    ignore_changes = [desired_capacity]
  }
}
