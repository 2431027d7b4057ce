"""AWS Lambda entry points (deployed by terraform/modules/scheduled_scaling)."""
