# One pipeline per service, all triggered by a push to the branch. Each decides for itself
# whether the push concerns its service (build.sh): a query-only change rebuilds and redeploys
# the query function and leaves the command and updater functions untouched.
resource "aws_codepipeline" "service" {
  for_each = local.services

  name           = "${var.project}-${each.key}"
  role_arn       = aws_iam_role.codepipeline[each.key].arn
  pipeline_type  = "V2"
  execution_mode = "SUPERSEDED" # a newer commit replaces a waiting one; the deployed-commit base loses nothing

  artifact_store {
    location = aws_s3_bucket.artifacts.bucket
    type     = "S3"
    encryption_key {
      id   = aws_kms_key.artifacts.arn
      type = "KMS"
    }
  }

  stage {
    name = "Source"
    action {
      name             = "Source"
      category         = "Source"
      owner            = "AWS"
      provider         = "CodeStarSourceConnection"
      version          = "1"
      output_artifacts = ["source"]
      namespace        = "SourceVariables"
      configuration = {
        ConnectionArn    = local.connection_arn
        FullRepositoryId = var.github_repository
        BranchName       = var.branch
        DetectChanges    = "true"
        # A reference CodeBuild clones with full history: change detection diffs against the
        # deployed commit, which a plain zip of the tree would not contain.
        OutputArtifactFormat = "CODEBUILD_CLONE_REF"
      }
    }
  }

  stage {
    name = "BuildAndDeploy"
    action {
      name            = "BuildAndDeploy"
      category        = "Build"
      owner           = "AWS"
      provider        = "CodeBuild"
      version         = "1"
      input_artifacts = ["source"]
      namespace       = "BuildVariables" # BUILD_SKIPPED, IMAGE_URI
      configuration = {
        ProjectName = aws_codebuild_project.service[each.key].name
      }
    }
  }
}
