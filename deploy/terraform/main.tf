# Shared lookups, names and the encryption key used across the files.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

# Official Debian 12 images, published by Debian's AWS account.
data "aws_ami" "debian12" {
  most_recent = true
  owners      = ["136693071363"]

  filter {
    name   = "name"
    values = ["debian-12-amd64-*"]
  }

  filter {
    name   = "architecture"
    values = ["x86_64"]
  }
}

locals {
  # Pinned zones, never "the first two the region lists today": that list can change, which would
  # move (replace) the subnets.
  azs        = length(var.availability_zones) == 2 ? var.availability_zones : ["${var.region}a", "${var.region}b"]
  ami_id     = coalesce(var.ami_id, data.aws_ami.debian12.id)
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  # Names known before the resources exist, so the user data can name them without a cycle.
  asg_name           = "${var.name}-app"
  drain_hook_name    = "${var.name}-drain"
  parameter_prefix   = "/${var.name}"
  database_url_param = "${local.parameter_prefix}/database-url"
  admin_key_param    = "${local.parameter_prefix}/admin-key"
  release_bucket     = regex("^s3://([^/]+)/(.+)$", var.release_s3_uri)[0]
  release_key        = regex("^s3://([^/]+)/(.+)$", var.release_s3_uri)[1]
  nfs_mount_options  = "rw,hard,noatime,vers=4.1,lookupcache=positive,_netdev"
  efs_mount_options  = "rw,hard,noatime,vers=4.1,lookupcache=positive,rsize=1048576,wsize=1048576,timeo=600,retrans=2,noresvport,_netdev"

  # What the hosts mount: exactly one of the two lists has an element (storage.tf's counts).
  shared_storage_what = join("", concat(
    [for fs in aws_efs_file_system.shared : "${fs.dns_name}:/"],
    [for host in aws_instance.nfs : "${host.private_ip}:/export/reel"],
  ))
}

# One customer-managed key for what Terraform encrypts: the database, the NFS data volume, EFS, the
# database URL parameter, log groups, the alarm topic and the backup vault.
data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_109:A key policy's "*" resource means this key only; the account's administrators must be able to manage it.
  #checkov:skip=CKV_AWS_111:A key policy's "*" resource means this key only; services are limited by principal and encryption context.
  #checkov:skip=CKV_AWS_356:A key policy's "*" resource means this key only (key policies cannot name other resources).
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchLogsEncrypt"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:*"]
    }
  }

  statement {
    sid       = "CloudWatchAlarmsPublishToEncryptedTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
  }
}

resource "aws_kms_key" "main" {
  description             = "${var.name}: database, storage, parameters, logs, alarms, backups"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "main" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.main.key_id
}
