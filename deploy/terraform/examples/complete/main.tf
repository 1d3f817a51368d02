# A root module for the AWS side of Liftgate on EKS with IRSA: DynamoDB state, EventBridge
# revocations with a dead-letter queue, and an audit bucket with Object Lock.
#
#   terraform init && terraform plan -out liftgate.plan && terraform apply liftgate.plan
#   terraform output -raw helm_values > aws-values.yaml
#   helm install liftgate ../../../../helm/liftgate -n liftgate -f aws-values.yaml -f my-values.yaml

provider "aws" {
  region = var.region
}

data "aws_ssoadmin_instances" "this" {}

data "aws_eks_cluster" "this" {
  name = var.eks_cluster_name
}

data "aws_iam_openid_connect_provider" "eks" {
  url = data.aws_eks_cluster.this.identity[0].oidc[0].issuer
}

module "liftgate" {
  source = "../.."

  name              = "liftgate"
  sso_instance_arn  = tolist(data.aws_ssoadmin_instances.this.arns)[0]
  identity_store_id = tolist(data.aws_ssoadmin_instances.this.identity_store_ids)[0]

  eks_oidc_provider_arn      = data.aws_iam_openid_connect_provider.eks.arn
  kubernetes_namespace       = "liftgate"
  kubernetes_service_account = "liftgate"

  audit_object_lock_days = 365
  audit_access_log_bucket = var.access_log_bucket

  tags = {
    service = "liftgate"
  }
}
