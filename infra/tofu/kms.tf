# One customer-managed key for everything the pipelines write: pipeline and SAM artifacts in S3,
# CodeBuild's own artifact encryption, and the CodeBuild log groups.
resource "aws_kms_key" "artifacts" {
  description             = "${var.project}: pipeline artifacts, SAM packages and build logs"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.artifacts_key.json
}

resource "aws_kms_alias" "artifacts" {
  name          = "alias/${var.project}-artifacts"
  target_key_id = aws_kms_key.artifacts.key_id
}

data "aws_iam_policy_document" "artifacts_key" {
  # In a key policy "*" as resource means this key. The account statement is the AWS default:
  # without it no IAM policy could grant use of the key and it could become unmanageable.
  #checkov:skip=CKV_AWS_109:Key policy: the account-root statement delegates to IAM; resource "*" is this key
  #checkov:skip=CKV_AWS_111:Key policy: the account-root statement delegates to IAM; resource "*" is this key
  #checkov:skip=CKV_AWS_356:Key policy: resource "*" in a key policy means this key only
  statement {
    sid       = "EnableIamPolicies"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account}:root"]
    }
  }

  statement {
    sid = "CodeBuildLogGroups"
    actions = [
      "kms:Encrypt",
      "kms:Decrypt",
      "kms:ReEncryptFrom",
      "kms:ReEncryptTo",
      "kms:GenerateDataKey",
      "kms:GenerateDataKeyWithoutPlaintext",
      "kms:DescribeKey",
    ]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account}:log-group:${local.codebuild_log_group_prefix}*"]
    }
  }
}
