# The Reel hosts: a launch template whose user data installs Reel from the release tarball, and an
# Auto Scaling group over both private subnets, scaled on CPU, health-checked by the load balancer,
# with a lifecycle hook that lets a terminating host drain its workers first.

# --- the hosts' role --------------------------------------------------------------------------------

data "aws_iam_policy_document" "ec2_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "app" {
  name               = "${var.name}-app"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json
}

# SSM Session Manager (instead of SSH and a bastion) and Run Command.
resource "aws_iam_role_policy_attachment" "app_ssm" {
  role       = aws_iam_role.app.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

data "aws_iam_policy_document" "app" {
  statement {
    sid       = "ReadTheRelease"
    actions   = ["s3:GetObject"]
    resources = ["arn:${local.partition}:s3:::${local.release_bucket}/${local.release_key}"]
  }

  statement {
    sid     = "ReadReelSecrets"
    actions = ["ssm:GetParameter"]
    resources = [
      "arn:${local.partition}:ssm:${var.region}:${local.account_id}:parameter${local.database_url_param}",
      "arn:${local.partition}:ssm:${var.region}:${local.account_id}:parameter${local.admin_key_param}",
    ]
  }

  statement {
    sid       = "DecryptReelSecrets"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.main.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ssm.${var.region}.amazonaws.com"]
    }
  }

  statement {
    sid       = "PublishQueueMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = [var.metrics_namespace]
    }
  }

  statement {
    sid       = "CompleteOwnDrain"
    actions   = ["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"]
    resources = ["arn:${local.partition}:autoscaling:${var.region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/${local.asg_name}"]
  }
}

resource "aws_iam_role_policy" "app" {
  name   = "reel-host"
  role   = aws_iam_role.app.id
  policy = data.aws_iam_policy_document.app.json
}

resource "aws_iam_instance_profile" "app" {
  name = "${var.name}-app"
  role = aws_iam_role.app.name
}

# --- launch template --------------------------------------------------------------------------------

resource "aws_launch_template" "app" {
  name_prefix   = "${var.name}-app-"
  image_id      = local.ami_id
  instance_type = var.instance_type

  iam_instance_profile {
    arn = aws_iam_instance_profile.app.arn
  }

  vpc_security_group_ids = [aws_security_group.app.id]

  # IMDSv2 only, and not reachable from containers one hop further away.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  monitoring {
    enabled = true
  }

  block_device_mappings {
    device_name = "/dev/xvda"

    ebs {
      volume_size           = var.root_volume_size
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  # No secret in here: the database URL and the admin key are read from SSM Parameter Store at boot
  # with the instance role (templates/app-user-data.sh.tftpl).
  user_data = base64encode(templatefile("${path.module}/templates/app-user-data.sh.tftpl", {
    region                 = var.region
    release_s3_uri         = var.release_s3_uri
    release_sha256         = var.release_sha256
    reel_uid               = var.reel_uid
    nfs_what               = local.shared_storage_what
    nfs_options            = var.shared_storage == "efs" ? local.efs_mount_options : local.nfs_mount_options
    database_url_parameter = local.database_url_param
    admin_key_parameter    = local.admin_key_param
    metrics_namespace      = var.metrics_namespace
    asg_name               = local.asg_name
    drain_hook_name        = local.drain_hook_name
    reel_settings          = var.reel_settings
    trusted_proxies        = join(",", var.public_subnet_cidrs)
  }))

  tag_specifications {
    resource_type = "instance"
    tags          = { Name = "${var.name}-app" }
  }

  tag_specifications {
    resource_type = "volume"
    tags          = { Name = "${var.name}-app" }
  }

  lifecycle {
    create_before_destroy = true
  }
}

# --- Auto Scaling group -----------------------------------------------------------------------------

resource "aws_autoscaling_group" "app" {
  name                      = local.asg_name
  min_size                  = var.asg_min_size
  desired_capacity          = var.asg_desired_capacity
  max_size                  = var.asg_max_size
  vpc_zone_identifier       = aws_subnet.private[*].id
  target_group_arns         = [aws_lb_target_group.app.arn]
  health_check_type         = "ELB"
  health_check_grace_period = var.health_check_grace_period
  default_instance_warmup   = 300
  enabled_metrics           = ["GroupDesiredCapacity", "GroupInServiceInstances", "GroupPendingInstances", "GroupTerminatingInstances", "GroupTotalInstances"]

  launch_template {
    id      = aws_launch_template.app.id
    version = aws_launch_template.app.latest_version
  }

  # A new launch template version (new release, new settings) replaces the hosts one at a time.
  instance_refresh {
    strategy = "Rolling"

    preferences {
      min_healthy_percentage = 100
      max_healthy_percentage = 200
    }
  }

  tag {
    key                 = "Name"
    value               = "${var.name}-app"
    propagate_at_launch = true
  }

  lifecycle {
    ignore_changes = [desired_capacity]
  }

  # The storage and the database are there before the first host boots and mounts or connects.
  depends_on = [aws_db_instance.main, aws_ssm_parameter.database_url, aws_instance.nfs, aws_efs_mount_target.shared]
}

# Scale-in and instance refreshes wait in Terminating:Wait until the host has drained its workers
# (reel-drain.service in the user data stops Reel and completes this action), or until the heartbeat
# timeout, which is well above the workers' 40 s stop timeout.
resource "aws_autoscaling_lifecycle_hook" "drain" {
  name                   = local.drain_hook_name
  autoscaling_group_name = aws_autoscaling_group.app.name
  lifecycle_transition   = "autoscaling:EC2_INSTANCE_TERMINATING"
  heartbeat_timeout      = var.drain_heartbeat_timeout
  default_result         = "CONTINUE"
}

resource "aws_autoscaling_policy" "cpu" {
  name                      = "${var.name}-cpu-target"
  autoscaling_group_name    = aws_autoscaling_group.app.name
  policy_type               = "TargetTrackingScaling"
  estimated_instance_warmup = 300

  target_tracking_configuration {
    predefined_metric_specification {
      predefined_metric_type = "ASGAverageCPUUtilization"
    }
    target_value = var.asg_cpu_target
  }
}
