output "queue_url" {
  description = "The control plane's aws.interruption_queue_url."
  value       = aws_sqs_queue.events.id
}

output "queue_arn" {
  description = "What the control plane's role reads and deletes from (fleet_policy's interruption_queue_arn)."
  value       = aws_sqs_queue.events.arn
}

output "dead_letter_queue_arn" {
  description = "Where unreadable messages end up (alarm on its depth)."
  value       = aws_sqs_queue.dead_letters.arn
}
