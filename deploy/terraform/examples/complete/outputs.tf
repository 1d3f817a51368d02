output "helm_values" {
  description = "Values for helm/liftgate: terraform output -raw helm_values > aws-values.yaml"
  value       = module.liftgate.helm_values
}

output "gateway_role_arn" {
  value = module.liftgate.gateway_role_arn
}

output "scheduler_role_arn" {
  value = module.liftgate.scheduler_role_arn
}
