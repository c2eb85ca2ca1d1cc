variable "region" {
  description = "AWS region for every resource here and for the SAM stack the pipelines deploy."
  type        = string
  default     = "ap-northeast-1"
}

variable "project" {
  description = "Prefix for the names of the resources created here (ECR repositories <project>/<service>, pipelines, build projects, roles, the artifact bucket)."
  type        = string
  default     = "cqrs-es"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.project))
    error_message = "project: lower-case letters, digits and dashes, 2-31 characters, starting with a letter."
  }
}

variable "stack_name" {
  description = "Name of the SAM/CloudFormation stack (infra/sam/template.yaml) the pipelines deploy. The deployment role may manage only resources whose names start with \"<stack_name>-\"."
  type        = string
  default     = "cqrs-es"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9-]{0,60}$", var.stack_name))
    error_message = "stack_name must be a valid CloudFormation stack name (letters, digits, dashes; starts with a letter)."
  }
}

variable "github_repository" {
  description = "GitHub repository the pipelines build, as \"owner/name\"."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must look like \"owner/name\"."
  }
}

variable "branch" {
  description = "Branch whose pushes trigger the pipelines."
  type        = string
  default     = "main"
}

variable "github_connection_name" {
  description = "Name of the existing CodeConnections (CodeStar) GitHub connection, looked up when github_connection_arn is not set."
  type        = string
  default     = "github"
}

variable "github_connection_arn" {
  description = "ARN of the GitHub connection; overrides the lookup by github_connection_name."
  type        = string
  default     = null
}

variable "codebuild_image" {
  description = "CodeBuild image for the ARM (aarch64) build container; needs Docker with buildx, the AWS CLI, the SAM CLI and Python 3.11+."
  type        = string
  default     = "aws/codebuild/amazonlinux-aarch64-standard:3.0"
}

variable "codebuild_compute_type" {
  description = "CodeBuild compute type for the ARM container (BUILD_GENERAL1_SMALL or BUILD_GENERAL1_LARGE)."
  type        = string
  default     = "BUILD_GENERAL1_SMALL"

  validation {
    condition     = contains(["BUILD_GENERAL1_SMALL", "BUILD_GENERAL1_LARGE"], var.codebuild_compute_type)
    error_message = "ARM_CONTAINER supports BUILD_GENERAL1_SMALL and BUILD_GENERAL1_LARGE."
  }
}

variable "build_timeout_minutes" {
  description = "Build timeout of each CodeBuild project, in minutes (covers the first-deployment wait for the other services' images)."
  type        = number
  default     = 45
}

variable "images_to_keep" {
  description = "Commit-tagged images kept per ECR repository for rollback; older ones expire. Untagged images always expire after 1 day."
  type        = number
  default     = 30

  validation {
    condition     = var.images_to_keep >= 2
    error_message = "Keep at least 2 images so that the previous release can be rolled back to."
  }
}

variable "artifact_retention_days" {
  description = "Days pipeline and SAM artifacts stay in the artifact bucket."
  type        = number
  default     = 30
}

variable "log_retention_days" {
  description = "Retention of the CodeBuild log groups, in days (a value CloudWatch Logs accepts)."
  type        = number
  default     = 365
}

variable "read_model_url_secret" {
  description = "Name (not ARN) of the Secrets Manager secret holding the read model's PostgreSQL URL; passed to the template as ReadModelUrlSecret, and the only secret the deployment role may resolve."
  type        = string
  default     = "cqrs-es/read-model-url"
}

variable "stack_parameters" {
  description = "Other parameters of the SAM template, passed on every deployment (e.g. { StageName = \"Stage\", VpcSubnetIds = \"subnet-1,subnet-2\" }). The image URIs are managed by the pipelines, ReadModelUrlSecret by read_model_url_secret."
  type        = map(string)
  default     = {}

  validation {
    condition     = length(setintersection(keys(var.stack_parameters), ["CommandImageUri", "QueryImageUri", "ReadModelUpdaterImageUri", "ReadModelUrlSecret"])) == 0
    error_message = "Image URI parameters are set by the pipelines and ReadModelUrlSecret by read_model_url_secret, not by stack_parameters."
  }

  validation {
    condition     = alltrue([for k, v in var.stack_parameters : can(regex("^[A-Za-z0-9]+$", k)) && !can(regex("\\s", v))])
    error_message = "stack_parameters: alphanumeric keys, values without whitespace (they are passed as Key=Value words)."
  }
}

variable "tags" {
  description = "Extra tags for every resource created here."
  type        = map(string)
  default     = {}
}
