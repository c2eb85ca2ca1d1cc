resource "aws_cloudwatch_log_group" "codebuild" {
  for_each = local.services

  name              = "${local.codebuild_log_group_prefix}${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.artifacts.arn
}

resource "aws_codebuild_project" "service" {
  #checkov:skip=CKV_AWS_316:Privileged mode runs the Docker daemon that BuildKit needs to build the Lambda image; the build only runs this repository's main branch
  for_each = local.services

  name                   = "${var.project}-${each.key}"
  description            = "Change detection, image build (arm64) and SAM deploy of the ${each.key} function"
  service_role           = aws_iam_role.codebuild[each.key].arn
  build_timeout          = var.build_timeout_minutes
  queued_timeout         = 60
  encryption_key         = aws_kms_key.artifacts.arn
  concurrent_build_limit = 1 # two builds of one service would race to deploy it

  artifacts {
    type = "CODEPIPELINE"
  }

  source {
    type      = "CODEPIPELINE"
    buildspec = "infra/buildspec/${each.key}.yml"
  }

  environment {
    type                        = "ARM_CONTAINER"
    compute_type                = var.codebuild_compute_type
    image                       = var.codebuild_image
    image_pull_credentials_type = "CODEBUILD"
    privileged_mode             = true

    environment_variable {
      name  = "STACK_NAME"
      value = var.stack_name
    }
    environment_variable {
      name  = "SAM_ARTIFACT_BUCKET"
      value = aws_s3_bucket.artifacts.bucket
    }
    environment_variable {
      name  = "SAM_ARTIFACT_KMS_KEY_ID"
      value = aws_kms_key.artifacts.arn
    }
    environment_variable {
      name  = "CFN_EXECUTION_ROLE_ARN"
      value = aws_iam_role.cloudformation.arn
    }
    environment_variable {
      name  = "SAM_PARAMETER_OVERRIDES"
      value = join(" ", [for k, v in merge(var.stack_parameters, { ReadModelUrlSecret = var.read_model_url_secret }) : "${k}=${v}"])
    }
    dynamic "environment_variable" {
      for_each = aws_ecr_repository.service
      content {
        name  = "${upper(replace(environment_variable.key, "-", "_"))}_REPOSITORY_URI"
        value = environment_variable.value.repository_url
      }
    }
  }

  logs_config {
    cloudwatch_logs {
      group_name = aws_cloudwatch_log_group.codebuild[each.key].name
    }
    s3_logs {
      status = "DISABLED"
    }
  }
}
