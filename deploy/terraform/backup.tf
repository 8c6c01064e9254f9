# Backups: AWS Backup takes daily recovery points of the shared storage (the NFS host's data volume or
# the EFS file system) into an encrypted vault; the database has RDS automated backups (database.tf,
# db_backup_retention_days) with point-in-time recovery.

resource "aws_backup_vault" "main" {
  name        = "${var.name}-vault"
  kms_key_arn = aws_kms_key.main.arn
}

resource "aws_backup_plan" "shared_storage" {
  name = "${var.name}-shared-storage"

  rule {
    rule_name         = "daily"
    target_vault_name = aws_backup_vault.main.name
    schedule          = var.backup_schedule
    start_window      = 60
    completion_window = 360

    lifecycle {
      delete_after = var.backup_retention_days
    }
  }
}

data "aws_iam_policy_document" "backup_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["backup.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "backup" {
  name               = "${var.name}-backup"
  assume_role_policy = data.aws_iam_policy_document.backup_assume.json
}

resource "aws_iam_role_policy_attachment" "backup" {
  role       = aws_iam_role.backup.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup"
}

resource "aws_iam_role_policy_attachment" "restore" {
  role       = aws_iam_role.backup.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores"
}

resource "aws_backup_selection" "nfs" {
  count = var.shared_storage == "nfs" ? 1 : 0

  name         = "${var.name}-nfs-data"
  plan_id      = aws_backup_plan.shared_storage.id
  iam_role_arn = aws_iam_role.backup.arn
  resources    = [aws_ebs_volume.nfs[0].arn]
}

resource "aws_backup_selection" "efs" {
  count = var.shared_storage == "efs" ? 1 : 0

  name         = "${var.name}-efs"
  plan_id      = aws_backup_plan.shared_storage.id
  iam_role_arn = aws_iam_role.backup.arn
  resources    = [aws_efs_file_system.shared[0].arn]
}
