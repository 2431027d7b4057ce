variable "cluster" {
  type        = string
  description = "Control-plane cluster name (names the queues and rules)."
}

variable "kms_key_arn" {
  type        = string
  description = "Customer-managed KMS key that encrypts both queues; its key policy must let events.amazonaws.com use it (kms:GenerateDataKey, kms:Decrypt)."
}

variable "retention_s" {
  type        = number
  description = "How long an event waits to be read: a two-minute warning is stale after minutes."
  default     = 900
}

variable "max_receives" {
  type        = number
  description = "Reads of a message the control plane never deletes before it goes to the dead-letter queue."
  default     = 5
}

variable "tags" {
  type        = map(string)
  description = "Tags for the queues and rules."
  default     = {}
}
