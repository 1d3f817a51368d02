data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  account_id = data.aws_caller_identity.current.account_id
  # aws_region.name is deprecated in provider 6 (region), but works in 5 and 6.
  region = data.aws_region.current.name

  sso_instance_id = element(split("/", var.sso_instance_arn), 1)

  state_table_name    = coalesce(var.state_table_name, "${var.name}-state")
  scheduler_role_name = "${var.name}-scheduler"

  audit_bucket_name = var.create_audit_bucket ? coalesce(var.audit_bucket_name, "${var.name}-audit-${local.account_id}") : var.existing_audit_bucket_name
  s3_audit          = local.audit_bucket_name != null
  audit_kms_key_arn = var.audit_kms_key_arn == null ? "" : var.audit_kms_key_arn

  create_dead_letter_queue = var.enable_eventbridge_scheduler && var.create_dead_letter_queue && var.dead_letter_queue_arn == null
  dead_letter_queue_arn    = var.dead_letter_queue_arn != null ? var.dead_letter_queue_arn : (local.create_dead_letter_queue ? aws_sqs_queue.revocations_dlq[0].arn : "")

  # The features whose statements the roles get (deploy/iam/actions.yaml).
  features = compact([
    "always",
    var.create_state_table ? "dynamodb" : "",
    var.enable_eventbridge_scheduler ? "eventbridge" : "",
    local.s3_audit ? "s3_audit" : "",
    local.s3_audit && var.audit_kms_key_arn != null ? "s3_audit_kms" : "",
    local.dead_letter_queue_arn != "" ? "dead_letter_queue" : "",
    var.activity_log_group_name != null ? "activity_summary" : "",
    var.enable_revoke_sessions ? "revoke_sessions" : "",
    var.allow_management_account_assignments ? "management_account" : "",
  ])

  gateway_statements   = [for s in local.generated_policy_statements.gateway : s if contains(local.features, s.feature)]
  scheduler_statements = [for s in local.generated_policy_statements.scheduler : s if contains(local.features, s.feature)]
}
