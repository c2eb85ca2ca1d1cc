# One repository per service. Images are tagged with the full commit SHA (immutable: a tag
# always names the same image, so the stack parameter says exactly what is deployed); the
# BuildKit registry cache lives in the same repository under the mutable tag `cache`.
resource "aws_ecr_repository" "service" {
  #checkov:skip=CKV_AWS_51:Tags are IMMUTABLE_WITH_EXCLUSION: every tag is immutable except `cache`, the BuildKit registry cache each build rewrites (checkov knows only IMMUTABLE)
  #checkov:skip=CKV_AWS_136:AES-256 at rest; a CMK would add KMS grants to every Lambda image pull and buys no access control the repository policy does not already give
  for_each = local.services

  name                 = "${var.project}/${each.key}"
  image_tag_mutability = "IMMUTABLE_WITH_EXCLUSION"

  image_tag_mutability_exclusion_filter {
    filter      = "cache"
    filter_type = "WILDCARD"
  }

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "AES256"
  }
}

# Rule order matters: an image matched by a higher-priority rule is never expired by a lower
# one, so rule 1 shields the `cache` tag from rule 3.
data "aws_ecr_lifecycle_policy_document" "service" {
  rule {
    priority    = 1
    description = "Keep the BuildKit registry cache"
    selection {
      tag_status       = "tagged"
      tag_pattern_list = ["cache"]
      count_type       = "imageCountMoreThan"
      count_number     = 1
    }
    action {
      type = "expire"
    }
  }

  rule {
    priority    = 2
    description = "Expire untagged images after 1 day"
    selection {
      tag_status   = "untagged"
      count_type   = "sinceImagePushed"
      count_unit   = "days"
      count_number = 1
    }
    action {
      type = "expire"
    }
  }

  rule {
    priority    = 3
    description = "Keep the newest commit images for rollback"
    selection {
      tag_status   = "any"
      count_type   = "imageCountMoreThan"
      count_number = var.images_to_keep
    }
    action {
      type = "expire"
    }
  }
}

resource "aws_ecr_lifecycle_policy" "service" {
  for_each   = aws_ecr_repository.service
  repository = each.value.name
  policy     = data.aws_ecr_lifecycle_policy_document.service.json
}

# Lambda pulls the image with its service principal; only this stack's functions may.
data "aws_iam_policy_document" "ecr_lambda_pull" {
  statement {
    sid     = "LambdaPullForStackFunctions"
    actions = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
    condition {
      test     = "StringLike"
      variable = "aws:sourceArn"
      values   = [local.function_arns]
    }
  }
}

resource "aws_ecr_repository_policy" "service" {
  for_each   = aws_ecr_repository.service
  repository = each.value.name
  policy     = data.aws_iam_policy_document.ecr_lambda_pull.json
}
