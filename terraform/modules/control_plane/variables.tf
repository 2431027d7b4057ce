variable "cluster" {
  type        = string
  description = "Control-plane cluster name (Settings.cluster; the controlplane:cluster tag of the pools it manages)."

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]+$", var.cluster))
    error_message = "cluster may hold only letters, digits, '.', '_' and '-'."
  }
}

variable "vpc_id" {
  type        = string
  description = "VPC of the daemon hosts."
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets the daemon hosts may run in (spread over zones for the hot standby)."

  validation {
    condition     = length(var.subnet_ids) > 0
    error_message = "Give at least one subnet."
  }
}

variable "ami_id" {
  type        = string
  description = "AMI of the daemon hosts (Amazon Linux 2023 or any systemd Linux with python3.11+, curl)."

  validation {
    condition     = can(regex("^ami-[0-9a-f]+$", var.ami_id))
    error_message = "ami_id must look like ami-0123456789abcdef0."
  }
}

variable "instance_type" {
  type        = string
  description = "Instance type of the daemon hosts."
  default     = "t3.small"
}

variable "instance_count" {
  type        = number
  description = "Daemon hosts: 1, or 2 for a hot standby (one leader at a time via the DynamoDB lease)."
  default     = 2

  validation {
    condition     = var.instance_count >= 1 && var.instance_count <= 2
    error_message = "instance_count must be 1 or 2."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "KMS key for the state table, the log group and the root volumes."
}

variable "state_table_name" {
  type        = string
  description = "DynamoDB state table (AwsConfig.state_table)."
  default     = "controlplane-state"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{3,255}$", var.state_table_name))
    error_message = "state_table_name must be 3-255 characters of [A-Za-z0-9._-]."
  }
}

variable "table_deletion_protection" {
  type        = bool
  description = "Refuse to delete the state table (leases, drain intents, floors)."
  default     = true
}

variable "termination_hook_name" {
  type        = string
  description = "Name of the pools' termination lifecycle hook (AwsConfig.termination_hook)."
  default     = "controlplane-drain"
}

variable "mesos_masters" {
  type        = list(string)
  description = "Mesos masters as host:port or http://host:port (MesosConfig.masters)."

  validation {
    condition     = length(var.mesos_masters) > 0
    error_message = "Give at least one Mesos master."
  }
}

variable "mesos_principal" {
  type        = string
  description = "Mesos principal for HTTP basic auth, or null (give it together with mesos_secret_arn)."
  default     = null

  validation {
    condition     = var.mesos_principal == null || can(regex("^[A-Za-z0-9._@-]{1,128}$", var.mesos_principal))
    error_message = "mesos_principal may hold letters, digits, '.', '_', '@' and '-' (at most 128)."
  }
}

variable "mesos_secret_arn" {
  type        = string
  description = "Secrets Manager secret or SSM SecureString parameter (ARN) holding the Mesos secret; read by the daemon at start, never written to user data. Null without a principal."
  default     = null

  validation {
    condition     = var.mesos_secret_arn == null || can(regex("^arn:aws[a-z-]*:(secretsmanager|ssm):", var.mesos_secret_arn))
    error_message = "mesos_secret_arn must be a Secrets Manager or SSM parameter ARN."
  }
}

variable "api_tokens_secret_arn" {
  type        = string
  description = "Secrets Manager secret (ARN) whose text holds the bearer tokens of the task API and of /metrics, one per line. Required with demand_source framework."
  default     = null

  validation {
    condition     = var.api_tokens_secret_arn == null || can(regex("^arn:aws[a-z-]*:secretsmanager:", var.api_tokens_secret_arn))
    error_message = "api_tokens_secret_arn must be a Secrets Manager secret ARN."
  }
}

variable "api_tls_cert_path" {
  type        = string
  description = "PEM certificate chain on the daemon hosts (baked into the AMI): the task API and ops port serve HTTPS. Null: plain HTTP."
  default     = null

  validation {
    condition     = var.api_tls_cert_path == null || can(regex("^/[A-Za-z0-9._/-]+$", var.api_tls_cert_path))
    error_message = "api_tls_cert_path must be an absolute path."
  }
}

variable "api_tls_key_path" {
  type        = string
  description = "The private key of api_tls_cert_path on the daemon hosts."
  default     = null

  validation {
    condition     = var.api_tls_key_path == null || can(regex("^/[A-Za-z0-9._/-]+$", var.api_tls_key_path))
    error_message = "api_tls_key_path must be an absolute path."
  }
}

variable "mesos_cidrs" {
  type        = list(string)
  description = "CIDRs of the Mesos masters (egress from the daemon on mesos_port)."

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

variable "demand_source" {
  type        = string
  description = "Where pending work comes from: framework (this daemon is the Mesos framework) or http."
  default     = "framework"

  validation {
    condition     = contains(["framework", "http"], var.demand_source)
    error_message = "demand_source must be framework or http."
  }
}

variable "task_commands" {
  type        = map(list(string))
  description = "The commands a submitted task may run, by name (DemandConfig.commands): fixed argument vectors, no shell."
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.task_commands : can(regex("^[A-Za-z0-9._-]{1,64}$", k)) && length(v) > 0])
    error_message = "task_commands: names of [A-Za-z0-9._-], each a non-empty argument list."
  }
}

variable "default_task_command" {
  type        = string
  description = "The command a task runs when it names none (a key of task_commands), or null."
  default     = null
}

variable "demand_url" {
  type        = string
  description = "URL of the pending-task feed when demand_source is http, else null."
  default     = null

  validation {
    condition     = var.demand_url == null || can(regex("^https?://[^\\s]+$", var.demand_url))
    error_message = "demand_url must be an http:// or https:// URL."
  }
}

variable "ops_port" {
  type        = number
  description = "Port of /metrics and /healthz (OpsConfig.port)."
  default     = 9102
}

variable "demand_port" {
  type        = number
  description = "Port of the demand HTTP API (DemandConfig.listen_port)."
  default     = 8080
}

variable "allowed_cidrs" {
  type        = list(string)
  description = "CIDRs allowed to reach ops_port and demand_port (Prometheus, task submitters)."
  default     = []

  validation {
    condition     = alltrue([for c in var.allowed_cidrs : can(cidrnetmask(c)) && c != "0.0.0.0/0"])
    error_message = "allowed_cidrs must be IPv4 CIDRs, and not 0.0.0.0/0."
  }
}

variable "allowed_security_group_ids" {
  type        = list(string)
  description = "Security groups allowed to reach ops_port and demand_port."
  default     = []
}

variable "https_egress_cidrs" {
  type        = list(string)
  description = "Where the daemon may speak HTTPS: AWS APIs (or VPC endpoints) and the package index at boot."
  default     = ["0.0.0.0/0"]
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the daemon's CloudWatch log group."
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch retention value (e.g. 30, 90, 365)."
  }
}

variable "package_spec" {
  type        = string
  description = "What pip installs on the host: this project's wheel with the framework extra, by URL or path (e.g. \"controlplane[framework] @ https://artifacts.example/controlplane-0.1.0-py3-none-any.whl\"). No default: the project is not published on PyPI, and a bare name could install someone else's package."

  validation {
    condition     = trimspace(var.package_spec) != "" && !strcontains(var.package_spec, "'")
    error_message = "package_spec must name the controlplane wheel to install (no single quotes: the user data quotes it)."
  }
}

variable "pip_args" {
  type        = string
  description = "Extra pip arguments, e.g. --find-links to a wheelhouse holding the http-parser wheel (tools/http_parser_wheel.sh)."
  default     = ""
}

variable "python_bin" {
  type        = string
  description = "Python (3.11+) that creates the daemon's virtualenv on the host."
  default     = "python3.11"
}

variable "interruption_queue" {
  type        = bool
  description = "Create the interruption queue (modules/interruptions) and have the leader read it: Spot warnings, rebalance recommendations and instance state changes drain agents before AWS takes them. The kms_key_arn key policy must let events.amazonaws.com use it."
  default     = true
}

variable "tags" {
  type        = map(string)
  description = "Extra tags for every resource (not controlplane:*: the daemon's group is no pool)."
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.tags) : !startswith(k, "controlplane:")])
    error_message = "controlplane:* tags would make the daemon's own group look like a pool."
  }
}
