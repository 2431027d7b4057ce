output "json" {
  description = "The policy document: attach it, or merge it with source_policy_documents."
  value       = data.aws_iam_policy_document.fleet.json
}
