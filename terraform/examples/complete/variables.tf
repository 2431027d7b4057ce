variable "region" {
  type        = string
  description = "AWS region of the cluster."
  default     = "us-east-1"
}

variable "cluster" {
  type        = string
  description = "Control-plane cluster name."
  default     = "prod-mesos"
}

variable "vpc_id" {
  type        = string
  description = "VPC of the cluster."
}

variable "private_subnets" {
  type        = map(string)
  description = "Availability zone => private subnet id (three zones)."

  validation {
    condition     = length(var.private_subnets) == 3
    error_message = "This example spreads the pools over exactly three zones."
  }
}

variable "agent_ami_id" {
  type        = string
  description = "AMI with mesos-agent installed."
}

variable "daemon_ami_id" {
  type        = string
  description = "AMI of the daemon hosts (Amazon Linux 2023)."
}

variable "daemon_package_spec" {
  type        = string
  description = "The controlplane wheel the daemon hosts install (pip requirement with a URL), plus its framework extra."
}

variable "daemon_pip_args" {
  type        = string
  description = "Extra pip arguments on the daemon hosts, e.g. --find-links to a wheelhouse with the http-parser wheel."
  default     = ""
}

variable "agent_security_group_ids" {
  type        = list(string)
  description = "Security groups of the Mesos agents."
}

variable "mesos_master" {
  type        = string
  description = "The agents' --master (zk://.../mesos)."
}

variable "mesos_masters" {
  type        = list(string)
  description = "The masters' HTTP API addresses for the control plane."
}

variable "mesos_cidrs" {
  type        = list(string)
  description = "CIDRs of the Mesos masters."
}

variable "monitoring_cidrs" {
  type        = list(string)
  description = "Where Prometheus and task submitters reach the daemon from."
  default     = []
}

variable "lambda_zip_path" {
  type        = string
  description = "The bundle from `make lambda-zip`."
  default     = "../../../build/lambda/scheduled_scaling.zip"
}
