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
