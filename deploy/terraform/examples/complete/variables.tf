variable "region" {
  description = "Where Identity Center, the table, the schedules and the audit bucket live."
  type        = string
  default     = "us-east-1"
}

variable "eks_cluster_name" {
  description = "The EKS cluster Liftgate runs in."
  type        = string
}

variable "access_log_bucket" {
  description = "A bucket for the audit bucket's server access logs (null for none)."
  type        = string
  default     = null
}
