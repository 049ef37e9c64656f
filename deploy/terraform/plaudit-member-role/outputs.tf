output "role_arn" {
  description = "The role plaudit assumes in this account."
  value       = aws_iam_role.plaudit.arn
}
