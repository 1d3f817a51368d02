# The state table, exactly the layout of docs/dynamodb.md (`liftgate state init` checks it and
# never changes it), with point-in-time recovery and time to live.
resource "aws_dynamodb_table" "state" {
  count = var.create_state_table ? 1 : 0

  name                        = local.state_table_name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  range_key                   = "sk"
  deletion_protection_enabled = var.state_table_deletion_protection

  attribute {
    name = "pk"
    type = "S"
  }
  attribute {
    name = "sk"
    type = "S"
  }
  attribute {
    name = "status_key"
    type = "S"
  }
  attribute {
    name = "order_key"
    type = "N"
  }
  attribute {
    name = "outbox_shard"
    type = "S"
  }
  attribute {
    name = "due_at"
    type = "N"
  }

  global_secondary_index {
    name            = "by_status"
    hash_key        = "status_key"
    range_key       = "order_key"
    projection_type = "ALL"
  }

  global_secondary_index {
    name               = "outbox_due"
    hash_key           = "outbox_shard"
    range_key          = "due_at"
    projection_type    = "INCLUDE"
    non_key_attributes = ["topic", "created_at"]
  }

  ttl {
    attribute_name = "ttl"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.state_table_kms_key_arn
  }

  tags = var.tags
}
