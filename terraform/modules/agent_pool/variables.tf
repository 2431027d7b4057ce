variable "cluster" {
  type        = string
  description = "Control-plane cluster name: the value of the controlplane:cluster tag on every group."

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]+$", var.cluster))
    error_message = "cluster may hold only letters, digits, '.', '_' and '-' (as Settings.cluster)."
  }
}

variable "pool" {
  type        = string
  description = "Pool name: the value of the controlplane:pool tag and the agents' Mesos attribute pool."

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]+$", var.pool))
    error_message = "pool may hold only letters, digits, '.', '_' and '-' (it is a Mesos attribute value)."
  }
}

variable "subnets" {
  type        = map(string)
  description = "Availability zone => subnet id: one Auto Scaling group per entry, named <cluster>-<pool>-<zone>."

  validation {
    condition     = length(var.subnets) > 0
    error_message = "Give at least one zone => subnet id."
  }
}

variable "instance_type" {
  type        = string
  description = "EC2 instance type of the pool's agents (one type per pool)."
}

variable "ami_id" {
  type        = string
  description = "AMI with mesos-agent installed at /usr/sbin/mesos-agent (and curl, systemd)."

  validation {
    condition     = can(regex("^ami-[0-9a-f]+$", var.ami_id))
    error_message = "ami_id must look like ami-0123456789abcdef0."
  }
}

variable "security_group_ids" {
  type        = list(string)
  description = "Security groups of the agents (Mesos master <-> agent traffic, task ports)."

  validation {
    condition     = length(var.security_group_ids) > 0
    error_message = "Give at least one security group."
  }
}

variable "iam_instance_profile_name" {
  type        = string
  description = "Instance profile of the agents (what the tasks may call), or null for none."
  default     = null
}

variable "min_size_per_zone" {
  type        = number
  description = "MinSize of each zone's group."
  default     = 0

  validation {
    condition     = var.min_size_per_zone >= 0
    error_message = "min_size_per_zone must be >= 0."
  }
}

variable "max_size_per_zone" {
  type        = number
  description = "MaxSize of each zone's group: the control plane never asks for more."

  validation {
    condition     = var.max_size_per_zone >= 1
    error_message = "max_size_per_zone must be >= 1."
  }
}

variable "attributes" {
  type        = map(string)
  description = "Pool attributes: tagged controlplane:attr:<name>=<value> and advertised as Mesos agent attributes."
  default     = {}

  validation {
    condition = alltrue([
      for k, v in var.attributes :
      can(regex("^[A-Za-z0-9._-]+$", k)) && can(regex("^[A-Za-z0-9._/-]+$", v))
      && !contains(["pool", "zone", "asg", "instance_id"], k)
    ])
    error_message = "Attribute names and values are Mesos text ([A-Za-z0-9._-]); pool, zone, asg and instance_id are set by the module."
  }
}

variable "rules" {
  type        = map(string)
  description = "Overrides of the control plane's pool rules for this pool, tagged controlplane:<rule>=<value> on its groups (e.g. min_idle = \"2\", hourly_price = \"0.768\")."
  default     = {}

  validation {
    condition = alltrue([
      for k in keys(var.rules) : contains([
        "min_idle", "max_idle", "idle_grace_s", "scale_up_cooldown_s", "scale_down_cooldown_s",
        "fitness", "hourly_price", "mem_reserve_mib", "disk_mib", "max_drains_per_pass",
        "max_drain_share", "consolidate", "consolidate_below", "max_cordon_share",
        "relocate_after_s", "max_relocations_per_hour", "idle_grace_boots", "queue_for_room_s",
        "spot_by_default",
      ], k)
    ])
    error_message = "rules keys are pool rules: min_idle, max_idle, idle_grace_s, scale_up_cooldown_s, scale_down_cooldown_s, fitness, hourly_price, mem_reserve_mib, disk_mib, max_drains_per_pass, max_drain_share, consolidate, consolidate_below, max_cordon_share, relocate_after_s, max_relocations_per_hour, idle_grace_boots, queue_for_room_s, spot_by_default."
  }
}

variable "mesos_master" {
  type        = string
  description = "The agents' --master: zk://host:2181,.../mesos or host:5050."
}

variable "mesos_work_dir" {
  type        = string
  description = "The agents' --work_dir."
  default     = "/var/lib/mesos"
}

variable "root_volume_size_gb" {
  type        = number
  description = "Size of the encrypted root EBS volume in GiB."
  default     = 100

  validation {
    condition     = var.root_volume_size_gb >= 8
    error_message = "root_volume_size_gb must be at least 8."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "KMS key that encrypts the root volumes (its policy must allow AWSServiceRoleForAutoScaling)."
}

variable "termination_hook_name" {
  type        = string
  description = "Name of the termination lifecycle hook (AwsConfig.termination_hook)."
  default     = "controlplane-drain"
}

variable "termination_hook_heartbeat_s" {
  type        = number
  description = "Heartbeat timeout of the termination hook in seconds; the control plane renews it while it drains."
  default     = 900

  validation {
    condition     = var.termination_hook_heartbeat_s >= 30 && var.termination_hook_heartbeat_s <= 7200
    error_message = "termination_hook_heartbeat_s must be within 30..7200 (the Auto Scaling limits)."
  }
}

variable "scale_in_protection" {
  type        = bool
  description = "Protect new instances from scale-in: only the control plane picks which instance goes."
  default     = true
}

variable "tags" {
  type        = map(string)
  description = "Extra tags for every resource (must not use the controlplane: prefix)."
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.tags) : !startswith(k, "controlplane:")])
    error_message = "The controlplane: tags are set by the module."
  }
}
