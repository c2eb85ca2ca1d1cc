# The role CloudFormation uses to create and update the SAM stack (sam deploy --role-arn).
# The pipelines' CodeBuild roles can only pass this role to CloudFormation; they cannot touch
# the stack's resources themselves.
#
# What the stack may contain, and the names it must use (CloudFormation's generated names
# already do: "<stack>-<LogicalId>-<suffix>"): Lambda functions and their roles, an HTTP API,
# DynamoDB tables with streams, SQS queues, log groups, alarms. Roles it creates must carry the
# permissions boundary below (iam:PermissionsBoundary condition), so nothing deployed through
# the pipeline can hold more than that boundary, whatever the template says.

data "aws_iam_policy_document" "cloudformation_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["cloudformation.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_iam_role" "cloudformation" {
  name                 = "${var.project}-cloudformation"
  path                 = local.iam_path
  description          = "CloudFormation execution role for the ${var.stack_name} SAM stack"
  assume_role_policy   = data.aws_iam_policy_document.cloudformation_assume.json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "cloudformation" {
  statement {
    sid = "StackFunctions"
    actions = [
      "lambda:AddPermission",
      "lambda:CreateFunction",
      "lambda:DeleteFunction",
      "lambda:DeleteFunctionConcurrency",
      "lambda:DeleteFunctionEventInvokeConfig",
      "lambda:GetFunction",
      "lambda:GetFunctionCodeSigningConfig",
      "lambda:GetFunctionConcurrency",
      "lambda:GetFunctionConfiguration",
      "lambda:GetFunctionEventInvokeConfig",
      "lambda:GetFunctionRecursionConfig",
      "lambda:GetPolicy",
      "lambda:GetRuntimeManagementConfig",
      "lambda:ListTags",
      "lambda:ListVersionsByFunction",
      "lambda:PublishVersion",
      "lambda:PutFunctionConcurrency",
      "lambda:PutFunctionEventInvokeConfig",
      "lambda:PutFunctionRecursionConfig",
      "lambda:PutRuntimeManagementConfig",
      "lambda:RemovePermission",
      "lambda:TagResource",
      "lambda:UntagResource",
      "lambda:UpdateFunctionCode",
      "lambda:UpdateFunctionConfiguration",
      "lambda:UpdateFunctionEventInvokeConfig",
      "lambda:CreateAlias",
      "lambda:DeleteAlias",
      "lambda:GetAlias",
      "lambda:UpdateAlias",
    ]
    resources = [local.function_arns, "${local.function_arns}:*"]
  }

  statement {
    sid = "StackEventSourceMappings"
    actions = [
      "lambda:CreateEventSourceMapping",
      "lambda:DeleteEventSourceMapping",
      "lambda:UpdateEventSourceMapping",
    ]
    resources = ["*"]
    condition {
      test     = "ArnLike"
      variable = "lambda:FunctionArn"
      values   = [local.function_arns]
    }
  }

  statement {
    sid = "ReadEventSourceMappings"
    actions = [
      "lambda:GetEventSourceMapping",
      "lambda:ListEventSourceMappings",
      "lambda:ListTags",
      "lambda:TagResource",
      "lambda:UntagResource",
    ]
    resources = ["arn:${local.partition}:lambda:${local.region}:${local.account}:event-source-mapping:*"]
  }

  statement {
    # Lambda validates a VPC configuration with the caller's permissions.
    sid       = "DescribeNetworkForVpcFunctions"
    actions   = ["ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeVpcs"]
    resources = ["*"]
  }

  statement {
    sid       = "StackImages"
    actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    resources = [for repo in aws_ecr_repository.service : repo.arn]
  }

  statement {
    sid = "StackRolesWithBoundary"
    actions = [
      "iam:AttachRolePolicy",
      "iam:CreateRole",
      "iam:DetachRolePolicy",
      "iam:PutRolePermissionsBoundary",
      "iam:PutRolePolicy",
    ]
    resources = [local.stack_role_arns]
    condition {
      test     = "StringEquals"
      variable = "iam:PermissionsBoundary"
      values   = [local.boundary_arn]
    }
  }

  statement {
    sid = "StackRolesManage"
    actions = [
      "iam:DeleteRole",
      "iam:DeleteRolePolicy",
      "iam:GetRole",
      "iam:GetRolePolicy",
      "iam:ListAttachedRolePolicies",
      "iam:ListRolePolicies",
      "iam:ListRoleTags",
      "iam:TagRole",
      "iam:UntagRole",
      "iam:UpdateRole",
      "iam:UpdateRoleDescription",
    ]
    resources = [local.stack_role_arns]
  }

  statement {
    sid       = "PassStackRolesToLambda"
    actions   = ["iam:PassRole"]
    resources = [local.stack_role_arns]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["lambda.amazonaws.com"]
    }
  }

  statement {
    sid = "StackTables"
    actions = [
      "dynamodb:CreateTable",
      "dynamodb:DeleteTable",
      "dynamodb:DescribeContinuousBackups",
      "dynamodb:DescribeContributorInsights",
      "dynamodb:DescribeKinesisStreamingDestination",
      "dynamodb:DescribeTable",
      "dynamodb:DescribeTimeToLive",
      "dynamodb:GetResourcePolicy",
      "dynamodb:ListTagsOfResource",
      "dynamodb:TagResource",
      "dynamodb:UntagResource",
      "dynamodb:UpdateContinuousBackups",
      "dynamodb:UpdateContributorInsights",
      "dynamodb:UpdateTable",
      "dynamodb:UpdateTimeToLive",
    ]
    resources = [
      "arn:${local.partition}:dynamodb:${local.region}:${local.account}:table/${local.stack_prefix}*",
    ]
  }

  statement {
    sid = "StackQueues"
    actions = [
      "sqs:CreateQueue",
      "sqs:DeleteQueue",
      "sqs:GetQueueAttributes",
      "sqs:GetQueueUrl",
      "sqs:ListQueueTags",
      "sqs:SetQueueAttributes",
      "sqs:TagQueue",
      "sqs:UntagQueue",
    ]
    resources = ["arn:${local.partition}:sqs:${local.region}:${local.account}:${local.stack_prefix}*"]
  }

  statement {
    sid = "StackLogGroups"
    actions = [
      "logs:CreateLogGroup",
      "logs:DeleteLogGroup",
      "logs:DeleteRetentionPolicy",
      "logs:DescribeLogGroups",
      "logs:ListTagsForResource",
      "logs:ListTagsLogGroup",
      "logs:PutRetentionPolicy",
      "logs:TagLogGroup",
      "logs:TagResource",
      "logs:UntagLogGroup",
      "logs:UntagResource",
    ]
    resources = [
      "arn:${local.partition}:logs:${local.region}:${local.account}:log-group:/aws/lambda/${local.stack_prefix}*",
      "arn:${local.partition}:logs:${local.region}:${local.account}:log-group:${local.stack_prefix}*",
    ]
  }

  statement {
    # The HTTP API's access logs: API Gateway sets up a vended log delivery with the caller's
    # permissions; these actions have no resource-level permissions.
    sid = "HttpApiAccessLogDelivery"
    actions = [
      "logs:CreateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:DescribeResourcePolicies",
      "logs:GetLogDelivery",
      "logs:ListLogDeliveries",
      "logs:PutResourcePolicy",
      "logs:UpdateLogDelivery",
    ]
    resources = ["*"]
  }

  statement {
    sid = "StackAlarms"
    actions = [
      "cloudwatch:DeleteAlarms",
      "cloudwatch:DescribeAlarms",
      "cloudwatch:PutMetricAlarm",
      "cloudwatch:TagResource",
      "cloudwatch:UntagResource",
    ]
    resources = ["arn:${local.partition}:cloudwatch:${local.region}:${local.account}:alarm:${local.stack_prefix}*"]
  }

  statement {
    sid = "HttpApis"
    actions = [
      "apigateway:DELETE",
      "apigateway:GET",
      "apigateway:PATCH",
      "apigateway:POST",
      "apigateway:PUT",
      "apigateway:TagResource",
      "apigateway:UntagResource",
    ]
    # API Gateway ARNs carry generated ids, not names: the API family is the narrowest scope.
    resources = [
      "arn:${local.partition}:apigateway:${local.region}::/apis",
      "arn:${local.partition}:apigateway:${local.region}::/apis/*",
      "arn:${local.partition}:apigateway:${local.region}::/tags/*",
    ]
  }

  statement {
    sid       = "StackParameters"
    actions   = ["ssm:GetParameters"]
    resources = ["arn:${local.partition}:ssm:${local.region}:${local.account}:parameter/${var.stack_name}/*"]
  }

  statement {
    # The template resolves the read model's URL ({{resolve:secretsmanager:…}}) at deploy time.
    sid     = "ResolveReadModelSecret"
    actions = ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
    # Secrets Manager appends "-" and six random characters to a secret's name in its ARN.
    resources = ["arn:${local.partition}:secretsmanager:${local.region}:${local.account}:secret:${var.read_model_url_secret}-??????"]
  }
}

resource "aws_iam_role_policy" "cloudformation" {
  name   = "deploy-${var.stack_name}"
  role   = aws_iam_role.cloudformation.id
  policy = data.aws_iam_policy_document.cloudformation.json
}

# ---------------------------------------------------------------------------------------------
# The ceiling for every role the stack creates. The SAM template attaches it to each function
# (PermissionsBoundary: arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/${AWS::StackName}-function-boundary);
# the function's own policies then grant the subset each function needs.

data "aws_iam_policy_document" "function_boundary" {
  #checkov:skip=CKV_AWS_356:A ceiling, not a grant: Lambda manages VPC network interfaces in subnets unknown here (as AWSLambdaVPCAccessExecutionRole does); X-Ray and metrics have no resource-level permissions
  #checkov:skip=CKV_AWS_111:Same network-interface actions; every other write is limited to the stack's own resources
  statement {
    sid = "StackTablesAndStreams"
    actions = [
      "dynamodb:BatchGetItem",
      "dynamodb:BatchWriteItem",
      "dynamodb:ConditionCheckItem",
      "dynamodb:DeleteItem",
      "dynamodb:DescribeStream",
      "dynamodb:DescribeTable",
      "dynamodb:GetItem",
      "dynamodb:GetRecords",
      "dynamodb:GetShardIterator",
      "dynamodb:PutItem",
      "dynamodb:Query",
      "dynamodb:Scan",
      "dynamodb:UpdateItem",
    ]
    resources = [
      "arn:${local.partition}:dynamodb:${local.region}:${local.account}:table/${local.stack_prefix}*",
    ]
  }

  statement {
    sid = "StackQueues"
    actions = [
      "sqs:GetQueueAttributes",
      "sqs:GetQueueUrl",
      "sqs:SendMessage",
    ]
    resources = ["arn:${local.partition}:sqs:${local.region}:${local.account}:${local.stack_prefix}*"]
  }

  statement {
    # The template's own log groups ("<stack>-CommandLogGroup-…") and Lambda's default ones.
    sid     = "StackLogs"
    actions = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [
      "arn:${local.partition}:logs:${local.region}:${local.account}:log-group:${local.stack_prefix}*",
      "arn:${local.partition}:logs:${local.region}:${local.account}:log-group:/aws/lambda/${local.stack_prefix}*",
    ]
  }

  statement {
    sid     = "StackConfiguration"
    actions = ["ssm:GetParameter", "ssm:GetParameters", "secretsmanager:GetSecretValue"]
    resources = [
      "arn:${local.partition}:ssm:${local.region}:${local.account}:parameter/${var.stack_name}/*",
      "arn:${local.partition}:secretsmanager:${local.region}:${local.account}:secret:${local.stack_prefix}*",
    ]
  }

  statement {
    sid = "UnscopeableReadsAndWrites"
    actions = [
      "cloudwatch:PutMetricData",
      "dynamodb:ListStreams",
      "xray:GetSamplingRules",
      "xray:GetSamplingStatisticSummaries",
      "xray:GetSamplingTargets",
      "xray:PutTelemetryRecords",
      "xray:PutTraceSegments",
    ]
    resources = ["*"]
  }

  statement {
    # Functions attached to a VPC (to reach the read model's PostgreSQL) manage their ENIs.
    sid = "VpcNetworkInterfaces"
    actions = [
      "ec2:AssignPrivateIpAddresses",
      "ec2:CreateNetworkInterface",
      "ec2:DeleteNetworkInterface",
      "ec2:DescribeNetworkInterfaces",
      "ec2:DescribeSubnets",
      "ec2:UnassignPrivateIpAddresses",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_policy" "function_boundary" {
  name        = local.boundary_name
  description = "Permissions boundary for every role created by the ${var.stack_name} stack"
  policy      = data.aws_iam_policy_document.function_boundary.json
}
