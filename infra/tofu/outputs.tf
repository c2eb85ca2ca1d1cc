output "ecr_repository_urls" {
  description = "ECR repository URL per service; images are tagged with the full commit SHA, the BuildKit cache with `cache`."
  value       = { for name, repo in aws_ecr_repository.service : name => repo.repository_url }
}

output "artifact_bucket" {
  description = "Name of the encrypted S3 bucket holding pipeline artifacts and SAM packages."
  value       = aws_s3_bucket.artifacts.bucket
}

output "artifact_kms_key_arn" {
  description = "ARN of the KMS key encrypting artifacts and build logs."
  value       = aws_kms_key.artifacts.arn
}

output "pipeline_names" {
  description = "CodePipeline name per service (aws codepipeline start-pipeline-execution --name …)."
  value       = { for name, pipeline in aws_codepipeline.service : name => pipeline.name }
}

output "codebuild_project_names" {
  description = "CodeBuild project name per service."
  value       = { for name, project in aws_codebuild_project.service : name => project.name }
}

output "cloudformation_execution_role_arn" {
  description = "Role CloudFormation assumes to deploy the SAM stack (sam deploy --role-arn); also usable for a manual first deployment."
  value       = aws_iam_role.cloudformation.arn
}

output "function_permissions_boundary_arn" {
  description = "Permissions boundary every role in the SAM stack must carry (the template sets it as PermissionsBoundary on each function)."
  value       = aws_iam_policy.function_boundary.arn
}

output "github_connection_arn" {
  description = "ARN of the GitHub connection the pipelines use."
  value       = local.connection_arn
}

output "stack_name" {
  description = "Name of the SAM stack the pipelines deploy."
  value       = var.stack_name
}
