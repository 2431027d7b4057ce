output "function_name" {
  description = "Name of the scheduled-scaling Lambda function."
  value       = aws_lambda_function.scheduled_scaling.function_name
}

output "function_arn" {
  description = "ARN of the scheduled-scaling Lambda function."
  value       = aws_lambda_function.scheduled_scaling.arn
}

output "schedule_expressions" {
  description = "<profile>-start|end => the EventBridge Scheduler expression (in the profile's timezone)."
  value       = { for k, e in local.edges : k => "${e.expression} ${e.timezone}" }
}

output "dead_letter_queue_url" {
  description = "Events neither the function nor the scheduler could deliver."
  value       = aws_sqs_queue.dead_letters.url
}

output "security_group_id" {
  description = "Security group of the function (allow it into the Mesos masters' group)."
  value       = aws_security_group.lambda.id
}
