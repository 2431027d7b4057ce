variable "cluster" {
  type        = string
  description = "Control-plane cluster name (Settings.cluster)."

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]+$", var.cluster))
    error_message = "cluster may hold only letters, digits, '.', '_' and '-'."
  }
}

variable "lambda_zip_path" {
  type        = string
  description = "Path of the bundle built by `make lambda-zip` (build/lambda/scheduled_scaling.zip)."
}

variable "state_table_name" {
  type        = string
  description = "Name of the DynamoDB state table (AwsConfig.state_table)."
}

variable "state_table_arn" {
  type        = string
  description = "ARN of the DynamoDB state table: the only table the function may touch."
}

variable "kms_key_arn" {
  type        = string
  description = "KMS key for the environment variables, the log group, the schedules and the state table."
}

variable "termination_hook_name" {
  type        = string
  description = "Name of the pools' termination lifecycle hook (AwsConfig.termination_hook)."
  default     = "controlplane-drain"
}

variable "mesos_masters" {
  type        = list(string)
  description = "Mesos masters as host:port or http://host:port (read through the operator API)."

  validation {
    condition     = length(var.mesos_masters) > 0
    error_message = "Give at least one Mesos master."
  }
}

variable "mesos_principal" {
  type        = string
  description = "Mesos principal for HTTP basic auth, or null."
  default     = null
}

variable "mesos_secret_arn" {
  type        = string
  description = "Secrets Manager secret or SSM SecureString parameter (ARN) of the Mesos secret, or null; read at run time, never in the environment."
  default     = null

  validation {
    condition     = var.mesos_secret_arn == null || can(regex("^arn:aws[a-z-]*:(secretsmanager|ssm):", var.mesos_secret_arn))
    error_message = "mesos_secret_arn must be a Secrets Manager or SSM parameter ARN."
  }
}

variable "demand_url" {
  type        = string
  description = "Pending-task feed (demand source http). Null: the daemon is the framework; the function only writes floors."
  default     = null

  validation {
    condition     = var.demand_url == null || can(regex("^https?://[^\\s]+$", var.demand_url))
    error_message = "demand_url must be an http:// or https:// URL."
  }
}

variable "demand_url_token_secret_arn" {
  type        = string
  description = "Secrets Manager secret (ARN) whose first token is sent to demand_url as a bearer token (the daemon's task API needs one), or null."
  default     = null

  validation {
    condition     = var.demand_url_token_secret_arn == null || can(regex("^arn:aws[a-z-]*:secretsmanager:", var.demand_url_token_secret_arn))
    error_message = "demand_url_token_secret_arn must be a Secrets Manager secret ARN."
  }
}

variable "profiles" {
  type = list(object({
    name          = string
    pool          = string
    min_instances = number
    timezone      = optional(string, "UTC")
    days          = optional(list(string))
    start         = optional(string)
    end           = optional(string)
    cron          = optional(string)
    duration_s    = optional(number)
  }))
  description = "Schedule profiles (controlplane.profiles.Profile): a weekly window (days, start, end) or a cron with duration_s."
  default     = []

  validation {
    condition = alltrue([
      for p in var.profiles : can(regex("^[A-Za-z0-9._-]+$", p.name)) && p.min_instances >= 0
    ])
    error_message = "Profile names are [A-Za-z0-9._-]+ and min_instances >= 0."
  }

  validation {
    condition     = length(distinct([for p in var.profiles : p.name])) == length(var.profiles)
    error_message = "Profile names must be unique."
  }

  validation {
    condition = alltrue([
      for p in var.profiles :
      (p.start != null && p.end != null && p.cron == null && p.duration_s == null)
      || (p.start == null && p.end == null && p.days == null && p.cron != null && p.duration_s != null)
    ])
    error_message = "Each profile is either a window (start, end, optional days) or a cron with duration_s."
  }

  validation {
    condition = alltrue(flatten([
      for p in var.profiles : [
        for t in [p.start, p.end] : can(regex("^([01][0-9]|2[0-3]):[0-5][0-9]$", t)) if t != null
      ]
    ]))
    error_message = "start and end are times of day HH:MM (00:00-23:59)."
  }

  validation {
    condition = alltrue(flatten([
      for p in var.profiles : [
        for d in(p.days == null ? [] : p.days) : contains(["mon", "tue", "wed", "thu", "fri", "sat", "sun"], d)
      ]
    ]))
    error_message = "days are mon, tue, wed, thu, fri, sat, sun."
  }

  validation {
    condition = alltrue([
      for p in var.profiles : p.cron == null || can(regex("^\\S+( \\S+){4}$", p.cron))
    ])
    error_message = "cron is a 5-field crontab expression (minute hour day-of-month month day-of-week), single spaces."
  }
}

variable "run_pass" {
  type        = bool
  description = "After setting floors, run one reconcile pass if no daemon holds the lease (ScheduleConfig.run_pass)."
  default     = true
}

variable "safety_schedule_expression" {
  type        = string
  description = "The safety schedule: the handler recomputes every floor, so missed window edges heal."
  default     = "rate(5 minutes)"

  validation {
    condition     = can(regex("^(rate|cron)\\(.+\\)$", var.safety_schedule_expression))
    error_message = "Give a rate(...) or cron(...) expression."
  }
}

variable "vpc_id" {
  type        = string
  description = "VPC of the function (it reads the Mesos operator API)."
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets of the function (with a route to the AWS APIs: NAT or VPC endpoints)."

  validation {
    condition     = length(var.subnet_ids) > 0
    error_message = "Give at least one subnet."
  }
}

variable "mesos_cidrs" {
  type        = list(string)
  description = "CIDRs of the Mesos masters (egress on mesos_port)."

  validation {
    condition     = alltrue([for c in var.mesos_cidrs : can(cidrnetmask(c))])
    error_message = "mesos_cidrs must be IPv4 CIDRs."
  }
}

variable "mesos_port" {
  type        = number
  description = "Port of the Mesos masters' HTTP API."
  default     = 5050
}

variable "https_egress_cidrs" {
  type        = list(string)
  description = "Where the function may speak HTTPS: the AWS APIs (or VPC endpoints) and the demand feed."
  default     = ["0.0.0.0/0"]
}

variable "timeout_s" {
  type        = number
  description = "Function timeout in seconds (one pass plus the floors)."
  default     = 120

  validation {
    condition     = var.timeout_s >= 10 && var.timeout_s <= 900
    error_message = "timeout_s must be within 10..900."
  }
}

variable "memory_mb" {
  type        = number
  description = "Function memory in MB (numpy packing)."
  default     = 512
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the function's CloudWatch log group."
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch retention value (e.g. 30, 90, 365)."
  }
}

variable "tags" {
  type        = map(string)
  description = "Extra tags for every resource."
  default     = {}
}
