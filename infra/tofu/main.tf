# Long-lived delivery resources for cqrs-es-example-python: one ECR repository, CodeBuild
# project and CodePipeline per service, a shared encrypted artifact bucket, and least-privilege
# IAM roles. The application itself (functions, API, tables) is the SAM stack in infra/sam,
# deployed by the pipelines. See infra/README.md.

provider "aws" {
  region = var.region

  default_tags {
    tags = merge({ Project = var.project, ManagedBy = "opentofu" }, var.tags)
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

# The GitHub connection is created (and its handshake completed) once in the console; see
# infra/README.md. Looked up by name unless its ARN is given.
data "aws_codestarconnections_connection" "github" {
  count = var.github_connection_arn == null ? 1 : 0
  name  = var.github_connection_name
}

locals {
  account   = data.aws_caller_identity.current.account_id
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.region

  connection_arn = coalesce(var.github_connection_arn, one(data.aws_codestarconnections_connection.github[*].arn))

  # Deployables: directory under services/, the SAM template's image parameter, its function.
  services = {
    command = {
      image_parameter = "CommandImageUri"
      function        = "CommandFunction"
    }
    query = {
      image_parameter = "QueryImageUri"
      function        = "QueryFunction"
    }
    read-model-updater = {
      image_parameter = "ReadModelUpdaterImageUri"
      function        = "ReadModelUpdaterFunction"
    }
  }

  # Roles and policies made here live under their own IAM path, so that no ARN of theirs can
  # match the "<stack>-*" patterns the CloudFormation role is allowed to manage.
  iam_path = "/ci/${var.project}/"

  # Names CloudFormation generates for the stack's resources start with "<stack>-".
  stack_prefix    = "${var.stack_name}-"
  stack_arn       = "arn:${local.partition}:cloudformation:${local.region}:${local.account}:stack/${var.stack_name}/*"
  function_arns   = "arn:${local.partition}:lambda:${local.region}:${local.account}:function:${local.stack_prefix}*"
  stack_role_arns = "arn:${local.partition}:iam::${local.account}:role/${local.stack_prefix}*"
  boundary_name   = "${var.stack_name}-function-boundary"
  boundary_arn    = "arn:${local.partition}:iam::${local.account}:policy/${local.boundary_name}"

  codebuild_log_group_prefix = "/aws/codebuild/${var.project}-"
}
