output "gateway_role_arn" {
  description = "The gateway's role: the Helm value serviceAccount.annotations.\"eks.amazonaws.com/role-arn\" (IRSA), or the Pod Identity association's role."
  value       = aws_iam_role.gateway.arn
}

output "scheduler_role_arn" {
  description = "scheduler.role_arn: the role Liftgate's EventBridge schedules assume."
  value       = var.enable_eventbridge_scheduler ? aws_iam_role.scheduler[0].arn : null
}

output "schedule_group_name" {
  description = "scheduler.group_name."
  value       = var.enable_eventbridge_scheduler ? aws_scheduler_schedule_group.revocations[0].name : null
}

output "dead_letter_queue_arn" {
  description = "scheduler.dead_letter_arn."
  value       = local.dead_letter_queue_arn == "" ? null : local.dead_letter_queue_arn
}

output "state_table_name" {
  description = "state.table."
  value       = var.create_state_table ? aws_dynamodb_table.state[0].name : null
}

output "audit_bucket_name" {
  description = "The S3 audit sink's bucket."
  value       = local.audit_bucket_name
}

output "audit_prefix" {
  description = "The S3 audit sink's prefix."
  value       = var.audit_prefix
}

output "region" {
  description = "aws.region."
  value       = local.region
}

output "helm_values" {
  description = "Helm values for helm/liftgate with everything this module created filled in: write them to a file (terraform output -raw helm_values > aws-values.yaml) and pass it with -f next to your own values."
  # Optional parts are null and filtered out, so no conditional has to unify two object types.
  value = yamlencode({
    serviceAccount = {
      annotations = { for k, v in { "eks.amazonaws.com/role-arn" = var.eks_oidc_provider_arn == null ? null : aws_iam_role.gateway.arn } : k => v if v != null }
    }
    replicaCount = var.create_state_table ? 2 : 1
    persistence = {
      enabled = !var.create_state_table
    }
    config = { for section, value in {
      aws = {
        region            = local.region
        sso_instance_arn  = var.sso_instance_arn
        identity_store_id = var.identity_store_id
      }
      state = var.create_state_table ? { backend = "dynamodb", table = aws_dynamodb_table.state[0].name } : null
      scheduler = var.enable_eventbridge_scheduler ? { for k, v in {
        backend         = "eventbridge"
        group_name      = aws_scheduler_schedule_group.revocations[0].name
        role_arn        = aws_iam_role.scheduler[0].arn
        dead_letter_arn = local.dead_letter_queue_arn == "" ? null : local.dead_letter_queue_arn
      } : k => v if v != null } : null
      audit = local.s3_audit ? {
        sinks = [{ for k, v in {
          type              = "s3"
          bucket            = local.audit_bucket_name
          prefix            = var.audit_prefix
          checkpoint_prefix = var.audit_checkpoint_prefix
          kms_key_id        = var.audit_kms_key_arn
        } : k => v if v != null }]
      } : null
    } : section => value if value != null }
  })
}
