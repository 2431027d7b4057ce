output "asg_names" {
  description = "Availability zone => Auto Scaling group name."
  value       = { for zone, asg in aws_autoscaling_group.zone : zone => asg.name }
}

output "asg_arns" {
  description = "Availability zone => Auto Scaling group ARN."
  value       = { for zone, asg in aws_autoscaling_group.zone : zone => asg.arn }
}

output "launch_template_id" {
  description = "Id of the agents' launch template."
  value       = aws_launch_template.agent.id
}

output "discovery_tags" {
  description = "The tags the control plane discovers this pool by."
  value       = local.discovery_tags
}
