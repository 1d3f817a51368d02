resource "aws_scheduler_schedule_group" "revocations" {
  count = var.enable_eventbridge_scheduler ? 1 : 0

  name = var.schedule_group_name
  tags = var.tags
}

resource "aws_sqs_queue" "revocations_dlq" {
  count = local.create_dead_letter_queue ? 1 : 0

  name                      = "${var.name}-revocations-dlq"
  message_retention_seconds = 1209600 # 14 days: time to notice and revoke by hand
  kms_master_key_id         = "alias/aws/sqs"
  tags                      = var.tags
}

data "aws_iam_policy_document" "revocations_dlq" {
  count = local.create_dead_letter_queue ? 1 : 0

  statement {
    sid     = "SchedulerRoleOnly"
    effect  = "Allow"
    actions = ["sqs:SendMessage"]
    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.scheduler[0].arn]
    }
    resources = [aws_sqs_queue.revocations_dlq[0].arn]
  }

  statement {
    sid     = "TlsOnly"
    effect  = "Deny"
    actions = ["sqs:*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    resources = [aws_sqs_queue.revocations_dlq[0].arn]
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "revocations_dlq" {
  count = local.create_dead_letter_queue ? 1 : 0

  queue_url = aws_sqs_queue.revocations_dlq[0].id
  policy    = data.aws_iam_policy_document.revocations_dlq[0].json
}
