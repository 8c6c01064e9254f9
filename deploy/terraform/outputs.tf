output "load_balancer_dns_name" {
  description = "Point your domain here (a CNAME, or a Route 53 alias with load_balancer_zone_id)."
  value       = aws_lb.main.dns_name
}

output "load_balancer_zone_id" {
  description = "Hosted zone of the load balancer, for a Route 53 alias record."
  value       = aws_lb.main.zone_id
}

output "vpc_id" {
  description = "The VPC."
  value       = aws_vpc.main.id
}

output "public_subnet_ids" {
  description = "Public subnets (load balancer, NAT gateway)."
  value       = aws_subnet.public[*].id
}

output "private_subnet_ids" {
  description = "Private subnets (Reel hosts, storage, database)."
  value       = aws_subnet.private[*].id
}

output "autoscaling_group_name" {
  description = "The Reel hosts' Auto Scaling group."
  value       = aws_autoscaling_group.app.name
}

output "database_endpoint" {
  description = "host:port of the catalog database (private)."
  value       = "${aws_db_instance.main.address}:${aws_db_instance.main.port}"
}

output "database_url_parameter" {
  description = "SSM SecureString parameter holding REEL_DATABASE_URL."
  value       = aws_ssm_parameter.database_url.name
}

output "admin_key_parameter" {
  description = "SSM SecureString parameter to put an admin API key in, for the queue metrics (README: secrets)."
  value       = local.admin_key_param
}

output "kms_key_arn" {
  description = "The deployment's KMS key (use it for the admin key parameter)."
  value       = aws_kms_key.main.arn
}

output "shared_storage" {
  description = "What the Reel hosts mount at /mnt/nfs_share."
  value       = local.shared_storage_what
}

output "nfs_host_instance_id" {
  description = "The NFS host (shared_storage = \"nfs\"), for SSM Session Manager."
  value       = one(aws_instance.nfs[*].id)
}

output "alarm_topic_arn" {
  description = "SNS topic the alarms publish to."
  value       = aws_sns_topic.alarms.arn
}
