output "state_table_name" {
  description = "Name of the DynamoDB state table."
  value       = aws_dynamodb_table.state.name
}

output "state_table_arn" {
  description = "ARN of the DynamoDB state table (the scheduled-scaling Lambda needs it)."
  value       = aws_dynamodb_table.state.arn
}

output "security_group_id" {
  description = "Security group of the daemon hosts."
  value       = aws_security_group.daemon.id
}

output "role_arn" {
  description = "IAM role of the daemon hosts."
  value       = aws_iam_role.daemon.arn
}

output "asg_name" {
  description = "Auto Scaling group of the daemon hosts (not a pool: it carries no controlplane:* tags)."
  value       = aws_autoscaling_group.daemon.name
}

output "log_group_name" {
  description = "CloudWatch log group of the daemon."
  value       = aws_cloudwatch_log_group.daemon.name
}

output "interruption_queue_url" {
  description = "The interruption queue the leader reads (null without interruption_queue)."
  value       = local.interruption_queue_url
}
