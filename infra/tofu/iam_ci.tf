# One role per CodeBuild project and one per pipeline, each limited to its own service: a
# compromised build of one service cannot push another service's image or start its builds.

# ---------------------------------------------------------------------------------------------
# CodeBuild

data "aws_iam_policy_document" "codebuild_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["codebuild.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_iam_role" "codebuild" {
  for_each = local.services

  name                 = "${var.project}-codebuild-${each.key}"
  path                 = local.iam_path
  description          = "CodeBuild: build, push and deploy the ${each.key} service"
  assume_role_policy   = data.aws_iam_policy_document.codebuild_assume.json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "codebuild" {
  for_each = local.services

  statement {
    sid       = "BuildLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.codebuild[each.key].arn}:*"]
  }

  statement {
    sid       = "ReadPipelineArtifacts"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${aws_s3_bucket.artifacts.arn}/*"]
  }

  statement {
    sid       = "WriteSamPackages"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.artifacts.arn}/sam/${each.key}/*"]
  }

  statement {
    sid       = "ListSamPackages"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.artifacts.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["sam/${each.key}/*"]
    }
  }

  statement {
    sid       = "ArtifactKey"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [aws_kms_key.artifacts.arn]
  }

  statement {
    sid       = "RegistryLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid = "PushOwnImage"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:CompleteLayerUpload",
      "ecr:DescribeImages",
      "ecr:GetDownloadUrlForLayer",
      "ecr:InitiateLayerUpload",
      "ecr:PutImage",
      "ecr:UploadLayerPart",
    ]
    resources = [aws_ecr_repository.service[each.key].arn]
  }

  statement {
    # First deployment only: deploy.sh waits for the other services' images of the commit.
    sid       = "SeeOtherImages"
    actions   = ["ecr:DescribeImages"]
    resources = [for name, repo in aws_ecr_repository.service : repo.arn if name != each.key]
  }

  statement {
    sid = "DeployStack"
    actions = [
      "cloudformation:CreateChangeSet",
      "cloudformation:DeleteChangeSet",
      "cloudformation:DescribeChangeSet",
      "cloudformation:DescribeStackEvents",
      "cloudformation:DescribeStacks",
      "cloudformation:ExecuteChangeSet",
      "cloudformation:GetTemplate",
      "cloudformation:GetTemplateSummary",
    ]
    resources = [
      local.stack_arn,
      "arn:${local.partition}:cloudformation:${local.region}:${local.account}:changeSet/samcli-deploy*/*",
    ]
  }

  statement {
    sid     = "ExpandSamTransform"
    actions = ["cloudformation:CreateChangeSet"]
    # The SAM template declares both transforms (LanguageExtensions resolves its optional JWT
    # authorizer's conditions before SAM runs).
    resources = [
      "arn:${local.partition}:cloudformation:${local.region}:aws:transform/Serverless-2016-10-31",
      "arn:${local.partition}:cloudformation:${local.region}:aws:transform/LanguageExtensions",
    ]
  }

  statement {
    sid       = "PassCloudFormationRole"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.cloudformation.arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["cloudformation.amazonaws.com"]
    }
  }

  statement {
    # CODEBUILD_CLONE_REF: the build clones the repository through the connection itself.
    sid       = "CloneThroughConnection"
    actions   = ["codestar-connections:UseConnection", "codeconnections:UseConnection"]
    resources = [local.connection_arn]
  }
}

resource "aws_iam_role_policy" "codebuild" {
  for_each = local.services
  name     = "build-${each.key}"
  role     = aws_iam_role.codebuild[each.key].id
  policy   = data.aws_iam_policy_document.codebuild[each.key].json
}

# ---------------------------------------------------------------------------------------------
# CodePipeline

data "aws_iam_policy_document" "codepipeline_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["codepipeline.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_iam_role" "codepipeline" {
  for_each = local.services

  name                 = "${var.project}-pipeline-${each.key}"
  path                 = local.iam_path
  description          = "CodePipeline: ${each.key} service"
  assume_role_policy   = data.aws_iam_policy_document.codepipeline_assume.json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "codepipeline" {
  for_each = local.services

  statement {
    # Artifact keys are "<pipeline name, truncated>/<artifact>/<id>"; the bucket holds nothing
    # but these reproducible artifacts, so the pipelines share it.
    sid       = "PipelineArtifacts"
    actions   = ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"]
    resources = ["${aws_s3_bucket.artifacts.arn}/*"]
  }

  statement {
    sid       = "ArtifactBucket"
    actions   = ["s3:GetBucketLocation", "s3:GetBucketVersioning"]
    resources = [aws_s3_bucket.artifacts.arn]
  }

  statement {
    sid       = "ArtifactKey"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [aws_kms_key.artifacts.arn]
  }

  statement {
    sid       = "SourceConnection"
    actions   = ["codestar-connections:UseConnection", "codeconnections:UseConnection"]
    resources = [local.connection_arn]
  }

  statement {
    sid       = "RunOwnBuild"
    actions   = ["codebuild:BatchGetBuilds", "codebuild:StartBuild", "codebuild:StopBuild"]
    resources = [aws_codebuild_project.service[each.key].arn]
  }
}

resource "aws_iam_role_policy" "codepipeline" {
  for_each = local.services
  name     = "pipeline-${each.key}"
  role     = aws_iam_role.codepipeline[each.key].id
  policy   = data.aws_iam_policy_document.codepipeline[each.key].json
}
