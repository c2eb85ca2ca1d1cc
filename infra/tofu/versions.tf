terraform {
  # OpenTofu 1.8+ (or Terraform 1.8+): both read this configuration unchanged.
  required_version = ">= 1.8.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 6.12 is the first release whose aws_ecr_repository supports tag-mutability exclusion
      # filters (immutable commit tags, mutable `cache` tag).
      version = "~> 6.12"
    }
  }
}
