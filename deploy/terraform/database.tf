# The catalog: RDS for PostgreSQL in the private subnets, reachable on 5432 from the Reel hosts only,
# encrypted, TLS required, automated backups, optionally Multi-AZ. Reel gets its URL from the SSM
# SecureString parameter /<name>/database-url, which the hosts read with their role at boot.

resource "aws_db_subnet_group" "main" {
  name       = "${var.name}-db"
  subnet_ids = aws_subnet.private[*].id
}

resource "aws_db_parameter_group" "main" {
  name   = "${var.name}-postgres${var.db_engine_version}"
  family = "postgres${var.db_engine_version}"

  # Refuse connections without TLS (Reel's URL says sslmode=verify-full).
  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  # Log schema changes, and statements slower than a second, to CloudWatch Logs.
  parameter {
    name  = "log_statement"
    value = "ddl"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "random_password" "db" {
  length  = 40
  special = false
}

data "aws_iam_policy_document" "rds_monitoring_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "rds_monitoring" {
  name               = "${var.name}-rds-monitoring"
  assume_role_policy = data.aws_iam_policy_document.rds_monitoring_assume.json
}

resource "aws_iam_role_policy_attachment" "rds_monitoring" {
  role       = aws_iam_role.rds_monitoring.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

resource "aws_db_instance" "main" {
  #checkov:skip=CKV_AWS_157:Multi-AZ is an option (db_multi_az), off by default because it doubles the database's cost; turn it on for production.
  identifier                          = "${var.name}-catalog"
  engine                              = "postgres"
  engine_version                      = var.db_engine_version
  instance_class                      = var.db_instance_class
  allocated_storage                   = var.db_allocated_storage
  max_allocated_storage               = var.db_max_allocated_storage
  storage_type                        = "gp3"
  storage_encrypted                   = true
  kms_key_id                          = aws_kms_key.main.arn
  db_name                             = "reel"
  username                            = "reel"
  password                            = random_password.db.result
  port                                = 5432
  multi_az                            = var.db_multi_az
  publicly_accessible                 = false
  db_subnet_group_name                = aws_db_subnet_group.main.name
  vpc_security_group_ids              = [aws_security_group.db.id]
  parameter_group_name                = aws_db_parameter_group.main.name
  iam_database_authentication_enabled = true
  backup_retention_period             = var.db_backup_retention_days
  backup_window                       = "02:00-02:30"
  maintenance_window                  = "sun:03:30-sun:04:30"
  copy_tags_to_snapshot               = true
  delete_automated_backups            = false
  deletion_protection                 = var.db_deletion_protection
  skip_final_snapshot                 = false
  final_snapshot_identifier           = "${var.name}-catalog-final"
  auto_minor_version_upgrade          = true
  allow_major_version_upgrade         = false
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]
  monitoring_interval                 = 60
  monitoring_role_arn                 = aws_iam_role.rds_monitoring.arn
  performance_insights_enabled        = true
  performance_insights_kms_key_id     = aws_kms_key.main.arn

  tags = { Name = "${var.name}-catalog" }
}

# Reel's database URL, encrypted with the deployment's key. It never appears in user data: the hosts
# read it at boot (reel-config.service). The password is also in the Terraform state, so keep the
# state encrypted and private (README: State).
resource "aws_ssm_parameter" "database_url" {
  name        = local.database_url_param
  description = "Reel's catalog URL (REEL_DATABASE_URL), read by the Reel hosts at boot"
  type        = "SecureString"
  key_id      = aws_kms_key.main.arn
  value       = "postgres://reel:${random_password.db.result}@${aws_db_instance.main.address}:${aws_db_instance.main.port}/reel?sslmode=verify-full&sslrootcert=/etc/reel/rds-ca.pem&pool_size=${var.db_pool_size}"
}
