# Shared storage for Reel's storage root, mounted by every host at /mnt/nfs_share (Reel uses
# /mnt/nfs_share/reel). Either an NFS server instance with an encrypted EBS data volume, as in the
# original deployment (shared_storage = "nfs", the default), or Amazon EFS (shared_storage = "efs").
# Both are reachable on 2049 from the Reel hosts' security group only.

# --- NFS host ---------------------------------------------------------------------------------------

resource "aws_iam_role" "nfs" {
  count = var.shared_storage == "nfs" ? 1 : 0

  name               = "${var.name}-nfs"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json
}

resource "aws_iam_role_policy_attachment" "nfs_ssm" {
  count = var.shared_storage == "nfs" ? 1 : 0

  role       = aws_iam_role.nfs[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "nfs" {
  count = var.shared_storage == "nfs" ? 1 : 0

  name = "${var.name}-nfs"
  role = aws_iam_role.nfs[0].name
}

# The data lives on its own volume, so the instance can be replaced without touching it; AWS Backup
# takes daily snapshots of it (backup.tf).
resource "aws_ebs_volume" "nfs" {
  count = var.shared_storage == "nfs" ? 1 : 0

  availability_zone = local.azs[0]
  size              = var.nfs_volume_size
  type              = "gp3"
  encrypted         = true
  kms_key_id        = aws_kms_key.main.arn

  tags = { Name = "${var.name}-nfs-data", Backup = var.name }
}

resource "aws_instance" "nfs" {
  count = var.shared_storage == "nfs" ? 1 : 0

  ami                    = local.ami_id
  instance_type          = var.nfs_instance_type
  subnet_id              = aws_subnet.private[0].id
  vpc_security_group_ids = [aws_security_group.storage.id]
  iam_instance_profile   = aws_iam_instance_profile.nfs[0].name
  ebs_optimized          = true
  monitoring             = true

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  root_block_device {
    volume_size = 10
    volume_type = "gp3"
    encrypted   = true
  }

  user_data = templatefile("${path.module}/templates/nfs-user-data.sh.tftpl", {
    region        = var.region
    volume_id     = aws_ebs_volume.nfs[0].id
    volume_serial = replace(aws_ebs_volume.nfs[0].id, "-", "")
    reel_uid      = var.reel_uid
    client_cidrs  = var.private_subnet_cidrs
    export_path   = "/export/reel"
    export_device = "/dev/sdf"
  })
  user_data_replace_on_change = false

  tags = { Name = "${var.name}-nfs" }

  lifecycle {
    ignore_changes = [ami]
  }
}

resource "aws_volume_attachment" "nfs" {
  count = var.shared_storage == "nfs" ? 1 : 0

  device_name = "/dev/sdf"
  volume_id   = aws_ebs_volume.nfs[0].id
  instance_id = aws_instance.nfs[0].id
}

# --- EFS --------------------------------------------------------------------------------------------

resource "aws_efs_file_system" "shared" {
  count = var.shared_storage == "efs" ? 1 : 0

  encrypted        = true
  kms_key_id       = aws_kms_key.main.arn
  performance_mode = "generalPurpose"
  throughput_mode  = "elastic"

  tags = { Name = "${var.name}-shared", Backup = var.name }
}

resource "aws_efs_mount_target" "shared" {
  count = var.shared_storage == "efs" ? 2 : 0

  file_system_id  = aws_efs_file_system.shared[0].id
  subnet_id       = aws_subnet.private[count.index].id
  security_groups = [aws_security_group.storage.id]
}
