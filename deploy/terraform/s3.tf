# The audit bucket: one JSON object per record under <audit_prefix>/YYYY/MM/DD/ (docs/athena.md
# has the table). Versioned, encrypted (SSE-S3, or SSE-KMS with audit_kms_key_arn), never
# public, TLS only, optional Object Lock, with a lifecycle for old versions.

resource "aws_s3_bucket" "audit" {
  count = var.create_audit_bucket ? 1 : 0

  bucket              = local.audit_bucket_name
  object_lock_enabled = var.audit_object_lock_days > 0
  tags                = var.tags
}

resource "aws_s3_bucket_ownership_controls" "audit" {
  count  = var.create_audit_bucket ? 1 : 0
  bucket = aws_s3_bucket.audit[0].id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "audit" {
  count  = var.create_audit_bucket ? 1 : 0
  bucket = aws_s3_bucket.audit[0].id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "audit" {
  count  = var.create_audit_bucket ? 1 : 0
  bucket = aws_s3_bucket.audit[0].id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "audit" {
  count  = var.create_audit_bucket ? 1 : 0
  bucket = aws_s3_bucket.audit[0].id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = var.audit_kms_key_arn == null ? "AES256" : "aws:kms"
      kms_master_key_id = var.audit_kms_key_arn
    }
    bucket_key_enabled = var.audit_kms_key_arn != null
  }
}

resource "aws_s3_bucket_object_lock_configuration" "audit" {
  count  = var.create_audit_bucket && var.audit_object_lock_days > 0 ? 1 : 0
  bucket = aws_s3_bucket.audit[0].id

  rule {
    default_retention {
      mode = var.audit_object_lock_mode
      days = var.audit_object_lock_days
    }
  }

  depends_on = [aws_s3_bucket_versioning.audit]
}

resource "aws_s3_bucket_lifecycle_configuration" "audit" {
  count  = var.create_audit_bucket ? 1 : 0
  bucket = aws_s3_bucket.audit[0].id

  rule {
    id     = "audit-records"
    status = "Enabled"

    filter {
      prefix = "${var.audit_prefix}/"
    }

    dynamic "transition" {
      for_each = var.audit_transition_days > 0 ? [var.audit_transition_days] : []
      content {
        days          = transition.value
        storage_class = "GLACIER_IR"
      }
    }

    noncurrent_version_expiration {
      noncurrent_days = var.audit_noncurrent_version_days
    }
  }

  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.audit]
}

resource "aws_s3_bucket_logging" "audit" {
  count  = var.create_audit_bucket && var.audit_access_log_bucket != null ? 1 : 0
  bucket = aws_s3_bucket.audit[0].id

  target_bucket = var.audit_access_log_bucket
  target_prefix = "s3-access/${local.audit_bucket_name}/"
}

data "aws_iam_policy_document" "audit_bucket" {
  count = var.create_audit_bucket ? 1 : 0

  statement {
    sid     = "TlsOnly"
    effect  = "Deny"
    actions = ["s3:*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    resources = [aws_s3_bucket.audit[0].arn, "${aws_s3_bucket.audit[0].arn}/*"]
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid     = "TheGatewayNeverDeletesRecords"
    effect  = "Deny"
    actions = ["s3:DeleteObject", "s3:DeleteObjectVersion"]
    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.gateway.arn]
    }
    resources = ["${aws_s3_bucket.audit[0].arn}/*"]
  }
}

resource "aws_s3_bucket_policy" "audit" {
  count  = var.create_audit_bucket ? 1 : 0
  bucket = aws_s3_bucket.audit[0].id
  policy = data.aws_iam_policy_document.audit_bucket[0].json

  depends_on = [aws_s3_bucket_public_access_block.audit]
}
