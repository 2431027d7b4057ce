variable "cluster" {
  type        = string
  description = "Control-plane cluster name: group actions are allowed only where controlplane:cluster has this value."
}

variable "state_table_arn" {
  type        = string
  description = "ARN of the DynamoDB state table: the only table the policy reaches."
}

variable "kms_key_arn" {
  type        = string
  description = "KMS key of the state table (used through DynamoDB only)."
}

variable "table_partitions" {
  type        = list(string)
  description = "State-table partition keys the policy reaches (dynamodb:LeadingKeys); empty: the cluster's own."
  default     = []
}

variable "secret_arns" {
  type        = list(string)
  description = "Secrets Manager secrets or SSM SecureString parameters (ARNs) the role may read; nothing else."
  default     = []

  validation {
    condition     = alltrue([for a in var.secret_arns : can(regex("^arn:aws[a-z-]*:(secretsmanager|ssm):", a))])
    error_message = "secret_arns must be Secrets Manager or SSM parameter ARNs."
  }
}

variable "floors_only" {
  type        = bool
  description = "Only read the state and write schedule floors (a scheduler that runs no pass): no fleet access."
  default     = false
}

variable "interruption_queue_arn" {
  type        = string
  description = "The interruption queue (modules/interruptions) the role reads and deletes from; null: none."
  default     = null
}

variable "interruption_kms_key_arn" {
  type        = string
  description = "The KMS key of the interruption queue (null: kms_key_arn)."
  default     = null
}
