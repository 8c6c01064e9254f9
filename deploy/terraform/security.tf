# Security groups, least privilege. Who may reach what:
#
#   internet ──80/443──▶ alb ──5000──▶ app ──2049──▶ storage (NFS host or EFS mount targets)
#                                       └──5432──▶ db
#
# No SSH anywhere: operators reach the hosts with SSM Session Manager (outbound 443 from the host),
# so there is no bastion and no port 22 open. Every rule is a resource of its own, so it can be read,
# tested and changed one by one.

resource "aws_security_group" "alb" {
  name        = "${var.name}-alb"
  description = "Reel load balancer: HTTP and HTTPS from anywhere, to the Reel hosts on 5000 only"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "${var.name}-alb" }
}

resource "aws_security_group" "app" {
  name        = "${var.name}-app"
  description = "Reel hosts: port 5000 from the load balancer only; no SSH (SSM Session Manager)"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "${var.name}-app" }
}

resource "aws_security_group" "storage" {
  name        = "${var.name}-storage"
  description = "Shared storage (NFS host or EFS mount targets): NFS 2049 from the Reel hosts only"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "${var.name}-storage" }
}

resource "aws_security_group" "db" {
  name        = "${var.name}-db"
  description = "PostgreSQL catalog: 5432 from the Reel hosts only; no outbound traffic"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "${var.name}-db" }
}

# --- load balancer ----------------------------------------------------------------------------------

resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  #checkov:skip=CKV_AWS_260:Port 80 is open only to answer with a redirect to HTTPS (the listener in alb.tf forwards nothing).
  security_group_id = aws_security_group.alb.id
  description       = "HTTP from anywhere (redirected to HTTPS)"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from anywhere"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "alb_to_app" {
  security_group_id            = aws_security_group.alb.id
  description                  = "To Reel on the hosts (requests and health checks)"
  ip_protocol                  = "tcp"
  from_port                    = 5000
  to_port                      = 5000
  referenced_security_group_id = aws_security_group.app.id
}

# --- Reel hosts -------------------------------------------------------------------------------------

resource "aws_vpc_security_group_ingress_rule" "app_from_alb" {
  security_group_id            = aws_security_group.app.id
  description                  = "Reel's HTTP port from the load balancer only"
  ip_protocol                  = "tcp"
  from_port                    = 5000
  to_port                      = 5000
  referenced_security_group_id = aws_security_group.alb.id
}

resource "aws_vpc_security_group_egress_rule" "app_https" {
  security_group_id = aws_security_group.app.id
  description       = "HTTPS out through the NAT gateway: AWS APIs (S3, SSM, CloudWatch, Auto Scaling), Debian security updates"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "app_http" {
  security_group_id = aws_security_group.app.id
  description       = "HTTP out through the NAT gateway: Debian's package mirrors (packages are signed)"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "app_to_storage" {
  security_group_id            = aws_security_group.app.id
  description                  = "NFS to the shared storage"
  ip_protocol                  = "tcp"
  from_port                    = 2049
  to_port                      = 2049
  referenced_security_group_id = aws_security_group.storage.id
}

resource "aws_vpc_security_group_egress_rule" "app_to_db" {
  security_group_id            = aws_security_group.app.id
  description                  = "PostgreSQL to the catalog"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.db.id
}

# --- shared storage ---------------------------------------------------------------------------------

resource "aws_vpc_security_group_ingress_rule" "storage_from_app" {
  security_group_id            = aws_security_group.storage.id
  description                  = "NFS from the Reel hosts only"
  ip_protocol                  = "tcp"
  from_port                    = 2049
  to_port                      = 2049
  referenced_security_group_id = aws_security_group.app.id
}

# The NFS host installs its packages and talks to SSM; EFS mount targets make no outbound connections.
resource "aws_vpc_security_group_egress_rule" "storage_https" {
  count = var.shared_storage == "nfs" ? 1 : 0

  security_group_id = aws_security_group.storage.id
  description       = "HTTPS out through the NAT gateway (NFS host: SSM, Debian security updates)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "storage_http" {
  count = var.shared_storage == "nfs" ? 1 : 0

  security_group_id = aws_security_group.storage.id
  description       = "HTTP out through the NAT gateway (NFS host: Debian's package mirrors)"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = "0.0.0.0/0"
}

# --- database ---------------------------------------------------------------------------------------

resource "aws_vpc_security_group_ingress_rule" "db_from_app" {
  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from the Reel hosts only"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.app.id
}
