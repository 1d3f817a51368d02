variable "name" {
  description = "Prefix of every name the module creates (roles, table, bucket, queue)."
  type        = string
  default     = "liftgate"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name))
    error_message = "name is 2-31 lower-case letters, digits and hyphens, starting with a letter."
  }
}

variable "sso_instance_arn" {
  description = "The Identity Center instance ARN (aws.sso_instance_arn), e.g. arn:aws:sso:::instance/ssoins-1234567890abcdef."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:sso:::instance/ssoins-[0-9a-f]+$", var.sso_instance_arn))
    error_message = "sso_instance_arn must look like arn:aws:sso:::instance/ssoins-1234567890abcdef."
  }
}

variable "identity_store_id" {
  description = "The identity store id (aws.identity_store_id), e.g. d-1234567890."
  type        = string

  validation {
    condition     = can(regex("^d-[0-9a-z]+$", var.identity_store_id))
    error_message = "identity_store_id must look like d-1234567890."
  }
}

# --- How the gateway's pods get the role -----------------------------------------------------

variable "eks_oidc_provider_arn" {
  description = "IRSA: the ARN of the EKS cluster's IAM OIDC provider (arn:aws:iam::123456789012:oidc-provider/oidc.eks.REGION.amazonaws.com/id/ID). Null to use EKS Pod Identity only."
  type        = string
  default     = null
}

variable "enable_pod_identity" {
  description = "EKS Pod Identity: let pods.eks.amazonaws.com assume the gateway role (and, with eks_cluster_name, create the association)."
  type        = bool
  default     = false
}

variable "eks_cluster_name" {
  description = "With enable_pod_identity: the cluster to create the Pod Identity association in. Null to create it yourself."
  type        = string
  default     = null
}

variable "kubernetes_namespace" {
  description = "Namespace of the Helm release (the IRSA trust and the Pod Identity association name it)."
  type        = string
  default     = "liftgate"
}

variable "kubernetes_service_account" {
  description = "Service account of the Helm release (the chart's default is the release's full name, e.g. liftgate)."
  type        = string
  default     = "liftgate"
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary for both roles, if your organization requires one."
  type        = string
  default     = null
}

variable "allow_management_account_assignments" {
  description = "Add the IAM reads AWS needs with the caller's permissions for assignments in the organization's management account. Leave false when Liftgate only assigns in member accounts."
  type        = bool
  default     = false
}

# --- State -----------------------------------------------------------------------------------

variable "create_state_table" {
  description = "Create the DynamoDB state table (state.backend: dynamodb). False keeps SQLite on the chart's volume (one replica)."
  type        = bool
  default     = true
}

variable "state_table_name" {
  description = "Name of the state table (state.table). Default: <name>-state."
  type        = string
  default     = null
}

variable "state_table_kms_key_arn" {
  description = "Customer managed KMS key for the table's encryption at rest. Null uses the AWS owned key."
  type        = string
  default     = null
}

variable "state_table_deletion_protection" {
  description = "Refuse to delete the state table (it holds every pending request and active grant)."
  type        = bool
  default     = true
}

# --- Revocation schedules --------------------------------------------------------------------

variable "enable_eventbridge_scheduler" {
  description = "Create the schedule group and the role its schedules assume (scheduler.backend: eventbridge), so access ends on time even if no replica runs."
  type        = bool
  default     = true
}

variable "schedule_group_name" {
  description = "The schedule group (scheduler.group_name). It must belong to one Liftgate deployment; do not reuse sso-elevator's group."
  type        = string
  default     = "liftgate"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,64}$", var.schedule_group_name))
    error_message = "schedule_group_name is 1-64 of A-Z a-z 0-9 . _ -."
  }
}

variable "create_dead_letter_queue" {
  description = "Create an SQS dead-letter queue for revocations that failed every retry (scheduler.dead_letter_arn)."
  type        = bool
  default     = true
}

variable "dead_letter_queue_arn" {
  description = "An existing dead-letter queue instead of the one the module creates."
  type        = string
  default     = null
}

# --- Audit -----------------------------------------------------------------------------------

variable "activity_log_group_name" {
  description = "The organization trail's CloudWatch Logs group in this account and region (audit.activity_summary.log_group); set it to let the gateway run the post-access activity summary's Logs Insights queries."
  type        = string
  default     = null
}

variable "enable_revoke_sessions" {
  description = "Let the gateway end live role sessions at revoke (RevokeSessions, requests.revoke_sessions): edit permission sets' inline policies and provision them again."
  type        = bool
  default     = false
}

variable "create_audit_bucket" {
  description = "Create the audit bucket. False with existing_audit_bucket_name writes to a bucket you have (for example sso-elevator's, so one Athena table reads both)."
  type        = bool
  default     = true
}

variable "existing_audit_bucket_name" {
  description = "With create_audit_bucket = false: the bucket the S3 audit sink writes to. Null turns the S3 sink (and its permissions) off."
  type        = string
  default     = null
}

variable "audit_bucket_name" {
  description = "Name of the bucket the module creates. Default: <name>-audit-<account id>."
  type        = string
  default     = null
}

variable "audit_prefix" {
  description = "Key prefix of the audit records (the S3 sink's prefix; sso-elevator's s3_bucket_partition_prefix)."
  type        = string
  default     = "logs"

  validation {
    condition     = can(regex("^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*$", var.audit_prefix))
    error_message = "audit_prefix is a key prefix without leading or trailing slashes, e.g. logs."
  }
}

variable "audit_checkpoint_prefix" {
  description = "Key prefix of the signed audit checkpoints (the S3 sink's checkpoint_prefix), beside audit_prefix."
  type        = string
  default     = "checkpoints"

  validation {
    condition     = can(regex("^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*$", var.audit_checkpoint_prefix))
    error_message = "audit_checkpoint_prefix is a key prefix without leading or trailing slashes, e.g. checkpoints."
  }
}

variable "audit_kms_key_arn" {
  description = "SSE-KMS with this key for the audit bucket (and the S3 sink's kms_key_id). Null uses SSE-S3 (AES256)."
  type        = string
  default     = null
}

variable "audit_object_lock_days" {
  description = "Object Lock default retention in days for new audit records (0: no Object Lock). Object Lock can only be turned on when the module creates the bucket."
  type        = number
  default     = 0

  validation {
    condition     = var.audit_object_lock_days >= 0 && floor(var.audit_object_lock_days) == var.audit_object_lock_days
    error_message = "audit_object_lock_days is a whole number of days, 0 for none."
  }
}

variable "audit_object_lock_mode" {
  description = "GOVERNANCE (privileged users can shorten retention) or COMPLIANCE (nobody can)."
  type        = string
  default     = "GOVERNANCE"

  validation {
    condition     = contains(["GOVERNANCE", "COMPLIANCE"], var.audit_object_lock_mode)
    error_message = "audit_object_lock_mode is GOVERNANCE or COMPLIANCE."
  }
}

variable "audit_noncurrent_version_days" {
  description = "Days before replaced or deleted versions of audit records are removed."
  type        = number
  default     = 365
}

variable "audit_transition_days" {
  description = "Days after which audit records move to S3 Glacier Instant Retrieval (0: never)."
  type        = number
  default     = 90
}

variable "audit_access_log_bucket" {
  description = "Bucket for the audit bucket's server access logs. Null: no access logging."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
