# The gateway's role (IRSA and/or EKS Pod Identity) and the role EventBridge Scheduler assumes.
# Their permissions are the statements generated from deploy/iam/actions.yaml
# (iam_policies.gen.tf), filtered to the features in use.

locals {
  oidc_issuer = var.eks_oidc_provider_arn == null ? null : element(split(":oidc-provider/", var.eks_oidc_provider_arn), 1)
}

data "aws_iam_policy_document" "gateway_trust" {
  dynamic "statement" {
    for_each = var.eks_oidc_provider_arn == null ? [] : [local.oidc_issuer]
    content {
      sid     = "ServiceAccountWebIdentity"
      effect  = "Allow"
      actions = ["sts:AssumeRoleWithWebIdentity"]
      principals {
        type        = "Federated"
        identifiers = [var.eks_oidc_provider_arn]
      }
      condition {
        test     = "StringEquals"
        variable = "${statement.value}:sub"
        values   = ["system:serviceaccount:${var.kubernetes_namespace}:${var.kubernetes_service_account}"]
      }
      condition {
        test     = "StringEquals"
        variable = "${statement.value}:aud"
        values   = ["sts.amazonaws.com"]
      }
    }
  }

  dynamic "statement" {
    for_each = var.enable_pod_identity ? [1] : []
    content {
      sid     = "EksPodIdentity"
      effect  = "Allow"
      actions = ["sts:AssumeRole", "sts:TagSession"]
      principals {
        type        = "Service"
        identifiers = ["pods.eks.amazonaws.com"]
      }
      condition {
        test     = "StringEquals"
        variable = "aws:SourceAccount"
        values   = [local.account_id]
      }
    }
  }
}

resource "aws_iam_role" "gateway" {
  name                 = "${var.name}-gateway"
  description          = "Liftgate gateway: Identity Center assignments, its state, schedules and audit log"
  assume_role_policy   = data.aws_iam_policy_document.gateway_trust.json
  permissions_boundary = var.permissions_boundary_arn
  max_session_duration = 3600
  tags                 = var.tags

  lifecycle {
    precondition {
      condition     = var.eks_oidc_provider_arn != null || var.enable_pod_identity
      error_message = "Set eks_oidc_provider_arn (IRSA) or enable_pod_identity = true: the gateway role needs someone to trust."
    }
  }
}

data "aws_iam_policy_document" "gateway" {
  dynamic "statement" {
    for_each = local.gateway_statements
    content {
      sid       = statement.value.sid
      effect    = "Allow"
      actions   = statement.value.actions
      resources = statement.value.resources
      dynamic "condition" {
        for_each = statement.value.conditions
        content {
          test     = condition.value.test
          variable = condition.value.variable
          values   = condition.value.values
        }
      }
    }
  }
}

resource "aws_iam_role_policy" "gateway" {
  name   = "liftgate-gateway"
  role   = aws_iam_role.gateway.id
  policy = data.aws_iam_policy_document.gateway.json
}

resource "aws_eks_pod_identity_association" "gateway" {
  count = var.enable_pod_identity && var.eks_cluster_name != null ? 1 : 0

  cluster_name    = var.eks_cluster_name
  namespace       = var.kubernetes_namespace
  service_account = var.kubernetes_service_account
  role_arn        = aws_iam_role.gateway.arn
  tags            = var.tags
}

data "aws_iam_policy_document" "scheduler_trust" {
  statement {
    sid     = "EventBridgeScheduler"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:scheduler:${local.region}:${local.account_id}:schedule-group/${var.schedule_group_name}"]
    }
  }
}

resource "aws_iam_role" "scheduler" {
  count = var.enable_eventbridge_scheduler ? 1 : 0

  name                 = local.scheduler_role_name
  description          = "Assumed by Liftgate's EventBridge schedules to revoke access at the end of a grant"
  assume_role_policy   = data.aws_iam_policy_document.scheduler_trust.json
  permissions_boundary = var.permissions_boundary_arn
  max_session_duration = 3600
  tags                 = var.tags
}

data "aws_iam_policy_document" "scheduler" {
  dynamic "statement" {
    for_each = local.scheduler_statements
    content {
      sid       = statement.value.sid
      effect    = "Allow"
      actions   = statement.value.actions
      resources = statement.value.resources
      dynamic "condition" {
        for_each = statement.value.conditions
        content {
          test     = condition.value.test
          variable = condition.value.variable
          values   = condition.value.values
        }
      }
    }
  }
}

resource "aws_iam_role_policy" "scheduler" {
  count = var.enable_eventbridge_scheduler ? 1 : 0

  name   = "liftgate-scheduler"
  role   = aws_iam_role.scheduler[0].id
  policy = data.aws_iam_policy_document.scheduler.json
}
