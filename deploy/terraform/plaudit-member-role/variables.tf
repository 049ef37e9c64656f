variable "scanner_account_id" {
  description = "The account plaudit runs in (management or delegated administrator)."
  type        = string
  validation {
    condition     = can(regex("^[0-9]{12}$", var.scanner_account_id))
    error_message = "scanner_account_id must be a 12-digit account id."
  }
}

variable "role_name" {
  description = "Name of the role; give plaudit the same with --role-name or role.name."
  type        = string
  default     = "PlauditAudit"
}

variable "role_path" {
  description = "IAM path of the role."
  type        = string
  default     = "/"
}

variable "external_id" {
  description = "Optional sts:ExternalId the scanner must present (role.external_id)."
  type        = string
  default     = ""
  sensitive   = true
}

variable "permissions_boundary_arn" {
  description = "Optional permissions boundary policy ARN for the role."
  type        = string
  default     = ""
}

variable "tags" {
  description = "Tags for the role."
  type        = map(string)
  default     = {}
}
