output "state_table_name" {
  description = "The control plane's DynamoDB state table."
  value       = module.control_plane.state_table_name
}

output "pool_groups" {
  description = "Pool => zone => Auto Scaling group name."
  value = {
    batch    = module.pool_batch.asg_names
    services = module.pool_services.asg_names
  }
}

output "daemon_security_group_id" {
  description = "Allow this group into the Mesos masters on 5050."
  value       = module.control_plane.security_group_id
}

output "lambda_security_group_id" {
  description = "Allow this group into the Mesos masters on 5050."
  value       = module.scheduled_scaling.security_group_id
}

output "schedule_expressions" {
  description = "The scheduled-scaling window edges."
  value       = module.scheduled_scaling.schedule_expressions
}
