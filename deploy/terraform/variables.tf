# Inputs. Everything has a default except the two things only you can know: where the release
# tarball is (release_s3_uri) and which ACM certificate the HTTPS listener serves (certificate_arn).

# --- general ----------------------------------------------------------------------------------------

variable "name" {
  description = "Prefix for every resource's name, and the SSM parameter path (/<name>/...)."
  type        = string
  default     = "reel"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name))
    error_message = "name must be 2-21 characters: lower-case letters, digits and dashes, starting with a letter."
  }
}

variable "region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "eu-west-1"
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}

# --- network ----------------------------------------------------------------------------------------

variable "vpc_cidr" {
  description = "The VPC's address range (the original deployment's)."
  type        = string
  default     = "192.168.1.0/24"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0))
    error_message = "vpc_cidr must be an IPv4 CIDR block, e.g. 192.168.1.0/24."
  }
}

variable "public_subnet_cidrs" {
  description = "Two public subnets (load balancer, NAT gateway), one per availability zone."
  type        = list(string)
  default     = ["192.168.1.0/26", "192.168.1.64/26"]

  validation {
    condition     = length(var.public_subnet_cidrs) == 2
    error_message = "public_subnet_cidrs must hold exactly two CIDR blocks, one per availability zone."
  }
}

variable "private_subnet_cidrs" {
  description = "Two private subnets (Reel hosts, storage, database), one per availability zone."
  type        = list(string)
  default     = ["192.168.1.128/26", "192.168.1.192/26"]

  validation {
    condition     = length(var.private_subnet_cidrs) == 2
    error_message = "private_subnet_cidrs must hold exactly two CIDR blocks, one per availability zone."
  }
}

variable "availability_zones" {
  description = "Two availability zones for the subnets; empty means <region>a and <region>b."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.availability_zones) == 0 || length(var.availability_zones) == 2
    error_message = "availability_zones must be empty or name exactly two zones."
  }
}

variable "flow_log_retention_days" {
  description = "Days the VPC flow logs are kept in CloudWatch Logs."
  type        = number
  default     = 365
}

# --- load balancer ----------------------------------------------------------------------------------

variable "certificate_arn" {
  description = "ARN of an issued ACM certificate, in this region, for the HTTPS listener (README: Certificate)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN (arn:aws:acm:...)."
  }
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener: TLS 1.3 and 1.2 with forward-secret ciphers only."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
}

variable "alb_idle_timeout" {
  description = "Seconds the load balancer keeps an idle connection (one tus upload chunk must arrive within it)."
  type        = number
  default     = 120
}

variable "alb_deletion_protection" {
  description = "Refuse to delete the load balancer (set false before `terraform destroy`)."
  type        = bool
  default     = true
}

variable "alb_log_retention_days" {
  description = "Days the load balancer's access logs are kept in S3."
  type        = number
  default     = 90
}

# --- Reel hosts -------------------------------------------------------------------------------------

variable "release_s3_uri" {
  description = "s3://bucket/key of the Reel release tarball the hosts install (README: The release tarball)."
  type        = string

  validation {
    condition     = can(regex("^s3://[a-z0-9][a-z0-9.-]+/.+\\.tar\\.gz$", var.release_s3_uri))
    error_message = "release_s3_uri must look like s3://bucket/path/reel-<version>.tar.gz."
  }
}

variable "release_sha256" {
  description = "SHA-256 of the release tarball; the hosts refuse a tarball that does not match. Empty skips the check."
  type        = string
  default     = ""

  validation {
    condition     = var.release_sha256 == "" || can(regex("^[0-9a-f]{64}$", var.release_sha256))
    error_message = "release_sha256 must be empty or 64 lower-case hexadecimal digits (sha256sum's output)."
  }
}

variable "ami_id" {
  description = "AMI for Reel hosts and the NFS host; null takes the newest official Debian 12 (amd64) image."
  type        = string
  default     = null
}

variable "instance_type" {
  description = "Instance type of the Reel hosts (amd64: the release is built for x86_64)."
  type        = string
  default     = "c6i.large"
}

variable "root_volume_size" {
  description = "GiB of each Reel host's root volume (system, journal; media lives on the shared storage)."
  type        = number
  default     = 20
}

variable "asg_min_size" {
  description = "Fewest Reel hosts."
  type        = number
  default     = 1
}

variable "asg_desired_capacity" {
  description = "Reel hosts at the start (the CPU policy moves it between min and max afterwards)."
  type        = number
  default     = 1
}

variable "asg_max_size" {
  description = "Most Reel hosts."
  type        = number
  default     = 4
}

variable "asg_cpu_target" {
  description = "Average CPU % of the Reel hosts the Auto Scaling group steers towards. Above each host's own autoscaler target (60 %), so a host fills up with workers before another is added."
  type        = number
  default     = 70
}

variable "health_check_grace_period" {
  description = "Seconds after launch before failed load balancer health checks count (first boot installs packages)."
  type        = number
  default     = 600
}

variable "drain_heartbeat_timeout" {
  description = "Seconds a terminating host may take to drain before it is terminated anyway. Must exceed the workers' TimeoutStopSec (40 s) plus the load balancer's deregistration delay."
  type        = number
  default     = 300

  validation {
    condition     = var.drain_heartbeat_timeout >= 120 && var.drain_heartbeat_timeout <= 7200
    error_message = "drain_heartbeat_timeout must be between 120 and 7200 seconds (above the 40 s worker stop timeout)."
  }
}

variable "reel_uid" {
  description = "UID and GID of user reel on every host and on the share (NFS checks ownership by number)."
  type        = number
  default     = 850
}

variable "reel_settings" {
  description = "Extra non-secret Reel settings written to /etc/reel/reel.env, e.g. { REEL_MAX_WORKERS = \"4\" }. Secrets go to SSM instead."
  type        = map(string)
  default     = {}

  validation {
    condition = alltrue([
      for k in keys(var.reel_settings) :
      can(regex("^REEL_[A-Z0-9_]+$", k)) && !contains(["REEL_DATABASE_URL", "REEL_SIGNING_KEY"], k)
    ])
    error_message = "reel_settings keys must be REEL_* variables, and never REEL_DATABASE_URL or REEL_SIGNING_KEY: secrets come from SSM Parameter Store, not from user data."
  }
}

variable "metrics_namespace" {
  description = "CloudWatch namespace the hosts publish Reel's queue figures in."
  type        = string
  default     = "Reel"
}

# --- shared storage ---------------------------------------------------------------------------------

variable "shared_storage" {
  description = "\"nfs\": an NFS server instance with an EBS volume (the original layout); \"efs\": Amazon EFS."
  type        = string
  default     = "nfs"

  validation {
    condition     = contains(["nfs", "efs"], var.shared_storage)
    error_message = "shared_storage must be \"nfs\" or \"efs\"."
  }
}

variable "nfs_instance_type" {
  description = "Instance type of the NFS host (shared_storage = \"nfs\")."
  type        = string
  default     = "m6i.large"
}

variable "nfs_volume_size" {
  description = "GiB of the NFS host's data volume (originals, segments, uploads)."
  type        = number
  default     = 500
}

# --- database ---------------------------------------------------------------------------------------

variable "db_engine_version" {
  description = "PostgreSQL major version (Reel needs 15 or later)."
  type        = string
  default     = "16"
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.medium"
}

variable "db_allocated_storage" {
  description = "GiB of database storage at the start."
  type        = number
  default     = 20
}

variable "db_max_allocated_storage" {
  description = "GiB the database storage may grow to by itself."
  type        = number
  default     = 100
}

variable "db_multi_az" {
  description = "A standby in the other availability zone, failed over to automatically (about twice the cost)."
  type        = bool
  default     = false
}

variable "db_backup_retention_days" {
  description = "Days of RDS automated backups (point-in-time recovery window)."
  type        = number
  default     = 7

  validation {
    condition     = var.db_backup_retention_days >= 1 && var.db_backup_retention_days <= 35
    error_message = "db_backup_retention_days must be between 1 and 35: the catalog is always backed up."
  }
}

variable "db_deletion_protection" {
  description = "Refuse to delete the database (set false before `terraform destroy`)."
  type        = bool
  default     = true
}

variable "db_pool_size" {
  description = "pool_size in the database URL: connections each Reel process opens at most."
  type        = number
  default     = 10
}

# --- monitoring and backups -------------------------------------------------------------------------

variable "alarm_email" {
  description = "An address that gets the alarms by e-mail (confirm the subscription); empty: the SNS topic only."
  type        = string
  default     = ""
}

variable "alarm_5xx_threshold" {
  description = "5xx responses in 5 minutes (load balancer's or Reel's own) that raise an alarm."
  type        = number
  default     = 10
}

variable "alarm_cpu_threshold" {
  description = "Average CPU % of the Reel hosts over 15 minutes that raises an alarm (the group is at its maximum and still busy)."
  type        = number
  default     = 90
}

variable "alarm_queue_backlog_threshold" {
  description = "Jobs waiting in Reel's queue for 15 minutes that raise an alarm."
  type        = number
  default     = 20
}

variable "backup_retention_days" {
  description = "Days AWS Backup keeps the daily recovery points of the shared storage."
  type        = number
  default     = 35
}

variable "backup_schedule" {
  description = "When AWS Backup runs (cron in UTC)."
  type        = string
  default     = "cron(0 3 * * ? *)"
}
